"""The broker address in MQTT_URL: understood, or refused with a coded reason before connecting."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from smartcare.monitoring.bridge import parse_broker_url
from smartcare.monitoring.errors import InvalidBrokerUrl


def test_broker_urls_are_understood() -> None:
    assert parse_broker_url("mqtt://dev:s%40cret@broker.local:1884") == {
        "host": "broker.local",
        "port": 1884,
        "tls": False,
        "username": "dev",
        "password": "s@cret",
    }
    secure = parse_broker_url("mqtts://broker.local")
    assert (secure["port"], secure["tls"], secure["username"]) == (8883, True, None)
    assert parse_broker_url("")["port"] == 1883


@pytest.mark.parametrize("url", ["http://broker.local:1883", "broker.local:1883", "mqtt://broker.local:port"])
def test_a_malformed_broker_url_is_refused_with_its_code(url: str) -> None:
    with pytest.raises(InvalidBrokerUrl) as caught:
        parse_broker_url(url)
    assert caught.value.code == "MON-014"


@pytest.mark.django_db
def test_the_bridge_command_says_why_it_cannot_start() -> None:
    with pytest.raises(CommandError, match=r"^MON-014: MQTT_URL .*mqtts?://"):
        call_command("mqtt_bridge", url="http://broker.local:1883")
