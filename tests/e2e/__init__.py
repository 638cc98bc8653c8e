"""The kind end-to-end test (`make e2e`) and the offline checks of what it needs."""
