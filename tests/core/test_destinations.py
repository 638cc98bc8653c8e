"""Tuning input URLs: nothing only the cluster can reach (loopback, link-local, metadata)."""

from __future__ import annotations

import pytest

from controller.core.destinations import refused_url
from tests.core.conftest import Validate, workspace


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "cloud metadata"),
        ("http://2852039166/latest/", "cloud metadata"),  # 169.254.169.254 as one number
        ("http://0xa9.0xfe.0xa9.0xfe/", "cloud metadata"),
        ("http://0251.0376.0251.0376/", "cloud metadata"),  # octal
        ("http://169.254.43518/", "cloud metadata"),  # the last part fills two bytes
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
        ("http://100.100.100.200/latest/", "cloud metadata"),  # Alibaba Cloud
        ("http://[fd00:ec2::254]/latest/", "cloud metadata"),  # AWS over IPv6
        ("HTTP://127.0.0.1:8080/x", "loopback"),
        ("http://127.1/x", "loopback"),
        ("https://user:pw@[::1]:443/x", "loopback"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://0.0.0.0:9200/", "unspecified"),
        ("http://localhost/x", "this machine"),
        ("http://LOCALHOST./x", "this machine"),
        ("http://api.localhost/x", "this machine"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata service"),
        ("http://metadata.google/computeMetadata/v1/", "metadata service"),
        ("http://[fe80::1%25eth0]/", "percent-encoded"),
        ("http://%31%32%37.0.0.1/", "percent-encoded"),
        ("http://a@b@169.254.169.254/", "more than one '@'"),
        ("http://169.254.169.254\\@example.com/", "backslash"),
        ("https://example.com/a.jsonl file:///etc/passwd", "whitespace"),
        ("https://example.com/a\n", "whitespace"),
        ("gopher://example.com/", "not an http(s) URL"),
        ("http://:80/", "no readable host"),
        ("http://[::1/", "no readable host"),
    ],
)
def test_urls_only_the_cluster_can_reach_are_refused(url: str, reason: str) -> None:
    found = refused_url(url)
    assert found is not None, url
    assert reason in found


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/datasets/x/resolve/main/train.jsonl",
        "https://user:token@data.example.com:8443/a.parquet?x=1#frag",
        "http://10.0.0.5:9000/bucket/train.jsonl",  # private: refused only for tuning data
        "http://minio.data.svc.cluster.local/bucket/a.jsonl",
        "http://[2001:db8::1]/a",
        "https://cafe.be/a",  # looks like hex digits, is a name
        "http://1.2.3.4.5/a",  # not an address: a name
    ],
)
def test_ordinary_urls_pass(url: str) -> None:
    assert refused_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:9000/bucket/train.jsonl",
        "http://172.16.3.4/a",
        "http://192.168.1.10/a",
        "http://[fd12::1]/a",
        "http://[::ffff:10.1.2.3]/a",
        "http://0xa000001/a",  # 10.0.0.1, spelled as curl reads it
    ],
)
def test_private_address_literals_are_refused_when_asked(url: str) -> None:
    reason = refused_url(url, allow_private=False)
    assert reason is not None
    assert "private address" in reason


@pytest.mark.parametrize(
    "url",
    [
        "http://minio.data.svc.cluster.local/bucket/a.jsonl",
        "http://172.32.0.1/a",
        "http://11.0.0.1/a",
    ],
)
def test_names_and_public_addresses_pass_the_private_rule(url: str) -> None:
    assert refused_url(url, allow_private=False) is None


def test_validate_locates_a_metadata_url_in_tuning_input(validate: Validate) -> None:
    body = """\
        resource: {instanceType: Standard_NC24ads_A100_v4}
        tuning:
          preset: {name: phi-3.5-mini-instruct}
          method: lora
          input:
            urls:
              - https://example.com/train.jsonl
              - http://169.254.169.254/latest/meta-data/
          output: {volumeSource: {emptyDir: {}}}
        """
    report = validate({"clusters/test/t.yaml": workspace(body)})
    [finding] = [f for f in report.findings if f.code == "destination"]
    assert (finding.file, finding.line, finding.column) == ("clusters/test/t.yaml", 12, 9)
    assert finding.field == "tuning.input.urls[1]"
    assert "cloud metadata" in finding.message
    assert not report.clusters[0].workspaces[0].valid
