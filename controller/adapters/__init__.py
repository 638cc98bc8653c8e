"""Thin I/O adapters: files, Git, Helm, Kubernetes, hydrated output."""
