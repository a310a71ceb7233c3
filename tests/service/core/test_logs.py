from __future__ import annotations

import json
import logging

from service.core.logs import JsonFormatter, request_id


def test_json_lines_carry_request_id_and_extra_fields():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "model ready", None, None)
    record.model = "m"
    token = request_id.set("abc")
    try:
        doc = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert doc["msg"] == "model ready" and doc["request_id"] == "abc" and doc["model"] == "m"
    assert doc["level"] == "info"
