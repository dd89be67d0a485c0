#!/usr/bin/python3
"""A provisioning server for make_samples.sh's h2c_upgrade capture: it
answers an HTTP/1.1 request that asks to upgrade (Upgrade: h2c) with 101 and
then speaks HTTP/2 on the connection (RFC 7540 §3.2), every request answered
with a two-byte body. nghttpd --no-tls does not take the upgrade. Needs
Debian's python3-h2.

Usage: h2c_upgrade_server.py ADDRESS PORT
"""
import socket
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions


def answer(conn, stream_id):
    conn.send_headers(stream_id, [(":status", "200"), ("content-length", "2")])
    conn.send_data(stream_id, b"ok", end_stream=True)


def serve(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65535)
        if not data:
            return
        head += data
    head, rest = head.split(b"\r\n\r\n", 1)
    settings = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"http2-settings":
            settings = value.strip()
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_upgrade_connection(settings)
    answer(conn, 1)  # the upgraded request is stream 1
    sock.sendall(conn.data_to_send())
    data = rest
    while True:
        for event in conn.receive_data(data) if data else []:
            if isinstance(event, h2.events.RequestReceived):
                answer(conn, event.stream_id)
        sock.sendall(conn.data_to_send())
        data = sock.recv(65535)
        if not data:
            break
    sock.close()


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((sys.argv[1], int(sys.argv[2])))
    listener.listen(5)
    while True:
        sock, _ = listener.accept()
        try:
            serve(sock)
        except (OSError, h2.exceptions.ProtocolError):
            sock.close()


if __name__ == "__main__":
    main()
