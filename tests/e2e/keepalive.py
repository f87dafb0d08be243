"""One keep-alive HTTP/1.1 connection for the loaders, reopened after a
failure, so a load runs across server kills and restarts."""
import http.client
import time


class KeepAlive:
    def __init__(self, where, timeout):
        # The timeout guards against a hung server only: a slow answer on a
        # loaded machine must still count, not be dropped as a failure.
        self.where, self.timeout, self.conn = where, timeout, None

    def send(self, method, path, body=None):
        """(response, payload) of one request; None when the connection
        failed (the server was killed or is stopping): it is reopened by the
        next call, after a short pause."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.where.hostname, self.where.port, timeout=self.timeout)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            self.conn.request(method, path, body, headers)
            res = self.conn.getresponse()
            payload = res.read()
        except (OSError, http.client.HTTPException):
            self.close()
            time.sleep(0.02)
            return None
        if res.will_close:
            self.close()
        return res, payload

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None
