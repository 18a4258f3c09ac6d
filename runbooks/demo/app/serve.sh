#!/bin/sh
# The demo's pretend web service: answers every request on :8080 with its version.
echo "starting web version=${WEB_VERSION:-unknown}"
while true; do
  printf 'HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n%s' "${#WEB_VERSION}" "$WEB_VERSION" | nc -l -p 8080
done
