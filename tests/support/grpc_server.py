"""A real gRPC service for the serve tests, on 127.0.0.1 and a free port, which it prints.

pkg.Svc/Check answers `pong:` and the request's message, and pkg.Svc/Watch (a stream) `pong:` and
each message, then `done`; started with `deny`, it fails every call with PERMISSION_DENIED and the
message `nope`. Messages pass as raw bytes.
"""

import sys
from concurrent import futures

import grpc

DENY = sys.argv[1:] == ["deny"]


def check(request, context):
    if DENY:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "nope")
    return b"pong:" + request


def watch(requests, context):
    if DENY:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "nope")
    for request in requests:
        yield b"pong:" + request
    yield b"done"


server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
methods = {
    "Check": grpc.unary_unary_rpc_method_handler(check),
    "Watch": grpc.stream_stream_rpc_method_handler(watch),
}
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("pkg.Svc", methods),))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(port, flush=True)
server.wait_for_termination()
