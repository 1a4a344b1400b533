class Raw:
    """predict_raw answers the message whole; a status.code sets the HTTP status."""

    def predict_raw(self, msg):
        if "jsonData" in msg and msg["jsonData"].get("fail"):
            return {"status": {"code": 422, "info": "unprocessable", "reason": "USER", "status": "FAILURE"}}
        return {
            "jsonData": {"raw": True, "keys": sorted(msg.keys())},
            "meta": {"metrics": [{"type": "COUNTER", "key": "raw_calls", "value": 1}], "tags": {"raw": "yes"}},
        }
