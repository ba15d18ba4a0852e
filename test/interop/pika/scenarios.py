"""Runs pika (BlockingConnection) scenarios against an AMQP URL and prints one JSON object: scenario -> result.

Usage: python3 scenarios.py AMQP_URL
Each scenario catches its own exceptions, so one failure does not hide the others; results are plain data the
TypeScript test asserts on.
"""
import json
import sys
import time
import traceback
import uuid

import pika
import pika.exceptions as pe

URL = sys.argv[1]


def params(**kw):
    p = pika.URLParameters(URL)
    for k, v in kw.items():
        setattr(p, k, v)
    p.connection_attempts = 1
    p.socket_timeout = 5
    p.blocked_connection_timeout = 5
    return p


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def publish_get_ack():
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        q = ch.queue_declare(queue="", exclusive=True).method.queue
        props = pika.BasicProperties(content_type="text/plain", delivery_mode=2, headers={"n": 7, "s": "x"}, message_id="id-1")
        for i in range(3):
            ch.basic_publish(exchange="", routing_key=q, body=("m%d" % i).encode(), properties=props)
        declared = ch.queue_declare(queue=q, passive=True).method.message_count
        method, p, body = ch.basic_get(q, auto_ack=False)
        first = {"body": body.decode(), "remaining": method.message_count, "redelivered": method.redelivered,
                 "content_type": p.content_type, "headers": p.headers, "message_id": p.message_id, "delivery_mode": p.delivery_mode}
        ch.basic_nack(method.delivery_tag, requeue=True)
        method, _, body = ch.basic_get(q, auto_ack=False)
        again = {"body": body.decode(), "redelivered": method.redelivered}
        ch.basic_ack(method.delivery_tag)
        rest = []
        while True:
            method, _, body = ch.basic_get(q, auto_ack=True)
            if method is None:
                break
            rest.append(body.decode())
        return {"declared": declared, "first": first, "again": again, "rest": rest}


def consume_qos():
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        q = ch.queue_declare(queue="", exclusive=True).method.queue
        for i in range(5):
            ch.basic_publish(exchange="", routing_key=q, body=("c%d" % i).encode())
        ch.basic_qos(prefetch_count=2)
        got = []
        ch.basic_consume(q, lambda c, m, p, b: got.append((m.delivery_tag, b.decode())), auto_ack=False)
        deadline = time.time() + 2
        while len(got) < 2 and time.time() < deadline:
            conn.process_data_events(time_limit=0.1)
        conn.process_data_events(time_limit=0.3)
        before_ack = len(got)
        ch.basic_ack(got[-1][0], multiple=True)
        deadline = time.time() + 2
        while len(got) < 4 and time.time() < deadline:
            conn.process_data_events(time_limit=0.1)
        conn.process_data_events(time_limit=0.3)
        return {"before_ack": before_ack, "after_ack": len(got), "bodies": [b for _, b in got]}


def confirms():
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        q = ch.queue_declare(queue="", exclusive=True).method.queue
        out = {}
        ch.basic_publish(exchange="", routing_key=q, body=b"ok")
        out["routed"] = "acked"
        try:
            ch.basic_publish(exchange="amq.direct", routing_key=uniq("nowhere"), body=b"x", mandatory=True)
            out["unroutable"] = "acked"
        except pe.UnroutableError as e:
            out["unroutable"] = "returned"
        out["count"] = ch.queue_declare(queue=q, passive=True).method.message_count
        return out


def confirms_reject_publish():
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        full = ch.queue_declare(queue="", exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}).method.queue
        q = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.basic_publish(exchange="", routing_key=q, body=b"before")
        try:
            ch.basic_publish(exchange="", routing_key=full, body=b"x")
            out = {"full": "acked"}
        except pe.NackError:
            out = {"full": "nacked"}
        # the channel must still work after the nack
        ch.basic_publish(exchange="", routing_key=q, body=b"after")
        out["after"] = ch.queue_declare(queue=q, passive=True).method.message_count
        return out


def exchange_types():
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        result = {}
        for kind, binds, sends in [
            ("direct", [("a", {})], [("a", None), ("b", None)]),
            ("fanout", [("", {})], [("x", None), ("y", None)]),
            ("topic", [("*.error", {}), ("audit.#", {})], [("web.error", None), ("web.info", None), ("audit.x.y", None), ("a.b.error", None)]),
            ("headers", [("", {"x-match": "any", "k": "v", "n": 1})], [("h1", {"k": "v"}), ("h2", {"n": 1}), ("h3", {"k": "w"})]),
        ]:
            x = uniq("pika-" + kind)
            ch.exchange_declare(exchange=x, exchange_type=kind, auto_delete=True)
            q = ch.queue_declare(queue="", exclusive=True).method.queue
            for key, args in binds:
                ch.queue_bind(queue=q, exchange=x, routing_key=key, arguments=args or None)
            for key, headers in sends:
                ch.basic_publish(exchange=x, routing_key=key, body=key.encode(), properties=pika.BasicProperties(headers=headers))
            got = []
            while True:
                m, _, b = ch.basic_get(q, auto_ack=True)
                if m is None:
                    break
                got.append(b.decode())
            result[kind] = got
        return result


def not_found():
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        try:
            ch.queue_declare(queue=uniq("missing"), passive=True)
            return {"error": None}
        except pe.ChannelClosedByBroker as e:
            ch2 = conn.channel()
            ch2.queue_declare(queue="", exclusive=True)
            return {"error": e.reply_code, "text": e.reply_text, "connection_open": conn.is_open}


def bad_password():
    p = pika.URLParameters(URL)
    p.credentials = pika.PlainCredentials("guest", "wrong")
    p.connection_attempts = 1
    try:
        pika.BlockingConnection(p).close()
        return {"error": None}
    except pe.AMQPConnectionError as e:
        return {"error": type(e).__name__, "text": str(e)}


def tx():
    with pika.BlockingConnection(params()) as conn:
        ch = conn.channel()
        q = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.tx_select()
        ch.basic_publish(exchange="", routing_key=q, body=b"rolled back")
        ch.tx_rollback()
        ch.basic_publish(exchange="", routing_key=q, body=b"committed")
        ch.tx_commit()
        m, _, b = ch.basic_get(q, auto_ack=True)
        return {"body": b.decode() if b else None, "left": m.message_count if m else None}


def main():
    out = {}
    names = sys.argv[2:] or ["publish_get_ack", "consume_qos", "confirms", "confirms_reject_publish", "exchange_types", "not_found", "bad_password", "tx"]
    for name in names:
        try:
            out[name] = globals()[name]()
        except Exception as e:  # reported to the test as data
            out[name] = {"exception": type(e).__name__, "text": str(e), "trace": traceback.format_exc()[-800:]}
    print(json.dumps(out))


main()
