"""WeChat Pay APIv3 cash coupons (代金券): stocks, user coupons, ``COUPON.USE``
notifications (plain or AEAD_AES_256_GCM-encrypted) and payment results.

Each JSON file (JSON lines, an array, one object, or a list response's ``data``) is
recognised by its first record: ``stock_use_rule`` makes a stock, ``event_type`` a
notification envelope, ``transaction_id`` with ``amount`` a payment result, ``coupon_id``
a user coupon (or a decrypted ``COUPON.USE`` resource). ``assignments.csv`` (columns
``experiment, openid, arm``, optional ``assigned_at``) brings experiment arms.
"""

from __future__ import annotations

import base64
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lab.ingest import _platform as P
from lab.ingest._errors import LogImportError

STOCK = {
    "stock_id": "str",
    "stock_creator_mchid": "str",
    "stock_name": "str",
    "status": "str",
    "available_begin_time": "str",
    "available_end_time": "str",
    "stock_type": "str",
    "stock_use_rule": {
        "max_coupons": "int",
        "max_amount": "int",
        "max_amount_by_day": "int",
        "max_coupons_per_user": "int",
        "natural_person_limit": "bool",
        "fixed_normal_coupon": {"coupon_amount": "int", "transaction_minimum": "int"},
        "coupon_type": "str",
        "goods_tag": ["str"],
    },
}
COUPON = {
    "stock_id": "str",
    "coupon_id": "str",
    "openid": "str",  # the openid of the /users/{openid}/coupons query (not in the object)
    "status": "str",
    "create_time": "str",
    "coupon_type": "str",
    "available_end_time": "str",
    "normal_coupon_information": {"coupon_amount": "int", "transaction_minimum": "int"},
    "consume_information": {
        "consume_time": "str",
        "transaction_id": "str",
        "consume_amount": "int",
    },
}
PAYMENT = {
    "transaction_id": "str",
    "mchid": "str",
    "payer": {"openid": "str"},
    "amount": {"total": "int"},
    "success_time": "str",
    "promotion_detail": [
        {
            "coupon_id": "str",
            "scope": "str",
            "type": "str",
            "amount": "int",
            "stock_id": "str",
            "wechatpay_contribute": "int",
            "merchant_contribute": "int",
            "other_contribute": "int",
        }
    ],
}
STOCK_STATUSES = ("unactivated", "audit", "running", "stoped", "paused")
STOCK_TYPES = ("NORMAL",)
COUPON_TYPES = ("NORMAL",)  # CUT_TO (减至) sets a price; the lab's stocks cannot express it
COUPON_STATUSES = ("SENDED", "USED", "EXPIRED", "RECOVER")
EVENT_TYPES = ("COUPON.USE",)
ALGORITHM = "AEAD_AES_256_GCM"
_S, _C, _N, _PAY = (
    "_lab_plat_wx_stocks",
    "_lab_plat_wx_coupons",
    "_lab_plat_wx_notified",
    "_lab_plat_wx_payments",
)
_CA = "_lab_plat_wx_coupon_rows"  # user coupons and callback resources together


def kind_of(record: dict) -> str | None:
    """Which WeChat Pay object a record is, from its keys."""
    if "event_type" in record and "resource" in record:
        return "notifications"
    if "stock_use_rule" in record or "stock_name" in record:
        return "stocks"
    if "transaction_id" in record and "amount" in record:
        return "payments"
    if "coupon_id" in record:
        return "coupons"
    return None


@dataclass
class _Resources:
    """Decrypted COUPON.USE resources, each located at its envelope."""

    origin: list  # per resource: (JsonFile, row, JSON path of the resource)

    def error(self, row: int, field_path: str, reason: str) -> LogImportError:
        file, envelope_row, base = self.origin[row]
        return file.error(envelope_row, f"{base}{field_path}", reason)


def read(
    con: duckdb.DuckDBPyConnection, files: dict[str, list], *, apiv3_key: bytes | None
) -> None:
    """Validate WeChat Pay files (by kind) and fill the canonical staging tables
    (:func:`lab.ingest._platform.create_empty`)."""
    sources: list = []  # _file of the coupon table indexes this list

    def locate(table_sources):
        return lambda f, row, field, reason: table_sources[f].error(row, field, reason)

    stocks = files.get("stocks", [])
    if stocks:
        P.load_json(con, stocks, STOCK, name=_S)
        P.check(con, _S, _stock_rules(), locate(stocks))
        _check_unique(con, _S, "stock_id", ".stock_id", stocks)
    coupons = files.get("coupons", [])
    if coupons:
        P.load_json(con, coupons, COUPON, name=_C)
        sources += coupons
    resources = _decrypt(files.get("notifications", []), apiv3_key)
    for (file, row, base), record in resources:
        if found := P.type_problem(record, COUPON, base):
            raise file.error(row, *found)
    if resources:
        with tempfile.TemporaryDirectory(prefix="lab_wx_") as tmp:
            path = Path(tmp) / "resources.jsonl"
            with open(path, "w", encoding="utf-8") as out:
                for _, record in resources:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
            P.load_json(con, [P.JsonFile(path, "lines")], COUPON, name=_N)
        view = _Resources([origin for origin, _ in resources])
        sources.append(view)
    parts = []
    if coupons:
        parts.append(f"SELECT * FROM {_C}")
    if resources:
        parts.append(
            f"SELECT _file + {len(coupons)} AS _file, _row, * EXCLUDE (_file, _row) FROM {_N}"
        )
    if parts:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_CA} AS {' UNION ALL '.join(parts)}")
    payments = files.get("payments", [])
    if payments:
        P.load_json(con, payments, PAYMENT, name=_PAY)
        P.check(con, _PAY, _payment_rules(), locate(payments))
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _lab_plat_wx_promos AS
            SELECT _file, _row, k, p.* FROM (
                SELECT _file, _row, unnest(promotion_detail) AS p,
                       generate_subscripts(promotion_detail, 1) - 1 AS k
                FROM {_PAY} WHERE promotion_detail IS NOT NULL)"""
        )
        P.check(con, "_lab_plat_wx_promos", _promotion_rules(), locate(payments), item="k")
    if sources:
        P.check(con, _CA, _coupon_rules(), locate(sources))
        if not stocks:
            first = (coupons or files["notifications"])[0]
            raise LogImportError(
                str(first.path),
                "coupons need their stocks: add the stock objects "
                "(GET /v3/marketing/favor/stocks/{stock_id}) to the import",
            )
        _check_coupon_links(con, sources, bool(payments))
    _fill(con, stocks=bool(stocks), coupons=bool(sources), payments=bool(payments))


def _stock_rules() -> list:
    r = "stock_use_rule"
    fixed = f"{r}.fixed_normal_coupon"
    out = [
        P.required(".stock_id", "stock_id"),
        P.id_rule(".stock_id", "stock_id"),
        P.enum_rule(".status", "status", STOCK_STATUSES),
        P.required(".stock_type", "stock_type"),
        P.enum_rule(
            ".stock_type", "stock_type", STOCK_TYPES, what=" (the lab reads cash-coupon stocks)"
        ),
        P.enum_rule(
            f".{r}.coupon_type",
            f"{r}.coupon_type",
            COUPON_TYPES,
            what=" (CUT_TO 减至 coupons set a price; the lab models amounts off)",
        ),
        P.id_rule(".stock_creator_mchid", "stock_creator_mchid"),
        *P.fen_rules(f".{fixed}.coupon_amount", f"{fixed}.coupon_amount"),
        *P.fen_rules(f".{fixed}.transaction_minimum", f"{fixed}.transaction_minimum"),
    ]
    for name in ("max_amount", "max_amount_by_day"):
        out += P.fen_rules(f".{r}.{name}", f"{r}.{name}", needed=False)
    for name in ("max_coupons", "max_coupons_per_user"):
        sql = f"{r}.{name}"
        out += [
            P.Rule(
                f".{r}.{name}",
                f"{sql} <> floor({sql}) OR {sql} < 0",
                lambda v: f"not a count (a whole number >= 0): {v:g}",
                sql,
            )
        ]
    for name in ("available_begin_time", "available_end_time"):
        out += [P.required(f".{name}", name), P.time_rule(f".{name}", name)]
    return out


def _coupon_rules() -> list:
    n, c = "normal_coupon_information", "consume_information"
    used = "status = 'USED'"
    return [
        P.required(".coupon_id", "coupon_id"),
        P.id_rule(".coupon_id", "coupon_id"),
        P.required(".stock_id", "stock_id"),
        P.id_rule(".stock_id", "stock_id"),
        P.required(".status", "status"),
        P.enum_rule(".status", "status", COUPON_STATUSES),
        P.enum_rule(
            ".coupon_type",
            "coupon_type",
            COUPON_TYPES,
            what=" (CUT_TO 减至 coupons set a price; the lab models amounts off)",
        ),
        P.required(".create_time", "create_time"),
        P.time_rule(".create_time", "create_time"),
        P.time_rule(".available_end_time", "available_end_time"),
        P.Rule(
            ".available_end_time",
            "status = 'EXPIRED' AND available_end_time IS NULL",
            lambda v: "missing value: an EXPIRED coupon needs its available_end_time",
        ),
        *P.fen_rules(f".{n}.coupon_amount", f"{n}.coupon_amount"),
        *P.fen_rules(f".{n}.transaction_minimum", f"{n}.transaction_minimum", needed=False),
        P.Rule(
            f".{c}.consume_time",
            f"{used} AND {c}.consume_time IS NULL",
            lambda v: "missing value: a USED coupon needs its consume_time",
        ),
        P.time_rule(f".{c}.consume_time", f"{c}.consume_time"),
        P.Rule(
            f".{c}.transaction_id",
            f"{used} AND {c}.transaction_id IS NULL",
            lambda v: "missing value: a USED coupon needs the transaction_id it paid part of",
        ),
        *P.fen_rules(f".{c}.consume_amount", f"{c}.consume_amount", needed=False),
    ]


def _payment_rules() -> list:
    return [
        P.required(".transaction_id", "transaction_id"),
        P.required(".payer.openid", "payer.openid"),
        *P.fen_rules(".amount.total", "amount.total"),
        P.required(".success_time", "success_time"),
        P.time_rule(".success_time", "success_time"),
        P.id_rule(".mchid", "mchid"),
    ]


def _promotion_rules() -> list:
    base = ".promotion_detail[{k}]"
    split = "wechatpay_contribute + merchant_contribute + other_contribute"
    out = [
        P.required(f"{base}.coupon_id", "coupon_id"),
        P.id_rule(f"{base}.coupon_id", "coupon_id"),
        P.id_rule(f"{base}.stock_id", "stock_id"),
        P.enum_rule(f"{base}.type", "type", ("CASH", "NOCASH")),
        P.enum_rule(f"{base}.scope", "scope", ("GLOBAL", "SINGLE")),
        *P.fen_rules(f"{base}.amount", "amount"),
    ]
    for name in ("wechatpay_contribute", "merchant_contribute", "other_contribute"):
        out += P.fen_rules(f"{base}.{name}", name, needed=False)
    out.append(
        P.Rule(
            f"{base}.amount",
            f"{split} IS NOT NULL AND {split} <> amount",
            lambda v: f"the contribution split adds up to {v[1]:g} fen, not the amount {v[0]:g}",
            f"[amount, {split}]",
        )
    )
    return out


def _check_unique(con, table: str, key: str, field: str, sources) -> None:
    found = con.execute(
        f"SELECT _file, _row FROM (SELECT _file, _row, row_number() OVER "
        f"(PARTITION BY {key} ORDER BY _file, _row) AS k FROM {table}) WHERE k = 2 "
        "ORDER BY _file, _row LIMIT 1"
    ).fetchone()
    if found:
        value = con.execute(
            f"SELECT {key} FROM {table} WHERE _file = ? AND _row = ?", list(found)
        ).fetchone()[0]
        raise sources[found[0]].error(found[1], field, f"{value} appears twice")


def _check_coupon_links(con, sources, with_payments: bool) -> None:
    """A coupon's records agree on stock and owner; its stock exists; its owner is known."""
    found = con.execute(
        f"""SELECT _file, _row, what FROM (
            SELECT _file, _row,
                   CASE WHEN stock_id <> first_value(stock_id) OVER w THEN 'stock'
                        WHEN openid <> first_value(openid IGNORE NULLS) OVER w THEN 'owner' END AS what
            FROM {_CA} WINDOW w AS (PARTITION BY coupon_id ORDER BY _file, _row
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
        WHERE what IS NOT NULL ORDER BY _file, _row LIMIT 1"""
    ).fetchone()
    if found:
        field = ".stock_id" if found[2] == "stock" else ".openid"
        raise sources[found[0]].error(
            found[1], field, "disagrees with an earlier record of the same coupon_id"
        )
    found = con.execute(
        f"SELECT c._file, c._row, c.stock_id FROM {_CA} c ANTI JOIN {_S} s USING (stock_id) "
        "ORDER BY c._file, c._row LIMIT 1"
    ).fetchone()
    if found:
        raise sources[found[0]].error(
            found[1], ".stock_id", f"stock {found[2]} is not among the imported stocks"
        )
    payer = (
        f"(SELECT transaction_id, any_value(payer.openid) AS openid FROM {_PAY} GROUP BY ALL)"
        if with_payments
        else "(SELECT NULL::VARCHAR AS transaction_id, NULL::VARCHAR AS openid)"
    )
    found = con.execute(
        f"""SELECT _file, _row FROM (
            SELECT c._file, c._row, c.coupon_id,
                   bool_or(c.openid IS NOT NULL OR p.openid IS NOT NULL)
                       OVER (PARTITION BY c.coupon_id) AS known
            FROM {_CA} c LEFT JOIN {payer} p
                 ON p.transaction_id = c.consume_information.transaction_id)
        WHERE NOT known ORDER BY _file, _row LIMIT 1"""
    ).fetchone()
    if found:
        raise sources[found[0]].error(
            found[1],
            ".openid",
            "whose coupon is it? add the openid of the /users/{openid}/coupons query to the "
            "object, or import the payment result of its redemption",
        )


def _fill(con, *, stocks: bool, coupons: bool, payments: bool) -> None:
    lt = P.local_time
    if stocks:
        r, fixed = "stock_use_rule", "stock_use_rule.fixed_normal_coupon"
        con.execute(
            f"""INSERT INTO {P.CANONICAL["stocks"]}
            SELECT stock_id, stock_name,
                   CASE WHEN {fixed}.transaction_minimum <= {fixed}.coupon_amount + 1
                        THEN 'no_threshold' ELSE 'threshold' END,
                   {fixed}.transaction_minimum, {fixed}.coupon_amount, {r}.max_amount,
                   {r}.max_amount_by_day, {r}.max_coupons, {r}.max_coupons_per_user,
                   {r}.natural_person_limit, {lt("available_begin_time")},
                   {lt("available_end_time")}, array_to_string({r}.goods_tag, ','),
                   CAST(stock_creator_mchid AS BIGINT)
            FROM {_S} ORDER BY _file, _row"""
        )
    if payments:
        repeated = con.execute(
            f"SELECT count(*) > count(DISTINCT transaction_id) FROM {_PAY}"
        ).fetchone()[0]
        # a retried payment notify repeats a result: read it once (the sort only when needed)
        once = (
            "QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY _file, _row) = 1"
            if repeated
            else ""
        )
        con.execute(
            f"""INSERT INTO {P.CANONICAL["orders"]}
            SELECT transaction_id, payer.openid, {lt("success_time")}, amount.total,
                   coalesce(list_sum([p.amount FOR p IN promotion_detail]), 0),
                   promotion_detail[1].coupon_id, CAST(mchid AS BIGINT)
            FROM {_PAY} {once}"""
        )
    if coupons:
        promo = (
            "(SELECT coupon_id, any_value(amount) AS amount FROM _lab_plat_wx_promos GROUP BY ALL)"
            if payments
            else "(SELECT NULL::VARCHAR AS coupon_id, NULL::DOUBLE AS amount)"
        )
        payer = (
            f"(SELECT transaction_id, any_value(payer.openid) AS openid FROM {_PAY} GROUP BY ALL)"
            if payments
            else "(SELECT NULL::VARCHAR AS transaction_id, NULL::VARCHAR AS openid)"
        )
        n, c = "normal_coupon_information", "consume_information"
        con.execute(
            f"""INSERT INTO {P.CANONICAL["coupons"]}
            SELECT coupon_id, any_value(stock_id),
                   coalesce(any_value(openid), any_value(payer)),
                   min({lt("create_time")}), any_value({n}.coupon_amount),
                   any_value({n}.transaction_minimum), max({lt("available_end_time")}),
                   min({lt(f"{c}.consume_time")}), any_value({c}.transaction_id),
                   coalesce(any_value(promo), any_value({c}.consume_amount)),
                   CASE WHEN bool_or(status = 'EXPIRED') AND NOT bool_or(status = 'USED')
                        THEN max({lt("available_end_time")}) END
            FROM (SELECT x.*, p.openid AS payer, pr.amount AS promo FROM {_CA} x
                  LEFT JOIN {payer} p ON p.transaction_id = x.{c}.transaction_id
                  LEFT JOIN {promo} pr ON pr.coupon_id = x.coupon_id)
            GROUP BY coupon_id"""
        )


def _decrypt(files: list, key: bytes | None) -> list:
    """(origin, resource) of each distinct notification, in file order.

    Envelopes are deduplicated on ``id`` (the platform retries a notification up to 9
    times); bare resources (already decrypted) on ``coupon_id``.
    """
    out, seen = [], set()
    aead = None
    for file in files:
        for row, record in file.iter_records():
            if not isinstance(record, dict):
                raise file.error(row, "", "expected an object")
            if "event_type" not in record:  # an already decrypted resource
                dedupe = ("coupon", record.get("coupon_id"))
                if dedupe not in seen:
                    seen.add(dedupe)
                    out.append(((file, row, ""), record))
                continue
            for name in ("id", "event_type", "resource"):
                if record.get(name) in (None, ""):
                    raise file.error(row, f".{name}", "missing value (the field is required)")
            if record["event_type"] not in EVENT_TYPES:
                raise file.error(
                    row,
                    ".event_type",
                    f"unknown value {record['event_type']!r} (known: {', '.join(EVENT_TYPES)})",
                )
            if ("envelope", record["id"]) in seen:
                continue  # a retried delivery of a notification already read
            seen.add(("envelope", record["id"]))
            resource = record["resource"]
            if not isinstance(resource, dict):
                raise file.error(row, ".resource", "expected an object")
            if "ciphertext" not in resource:  # delivered or stored decrypted
                out.append(((file, row, ".resource"), resource))
                continue
            if key is None:
                raise file.error(
                    row,
                    ".resource.ciphertext",
                    "the notification is encrypted: pass the merchant's APIv3 key "
                    "(apiv3_key=, or --apiv3-key-file on the command line)",
                )
            if aead is None:
                aead = _aead(key, file)
            out.append(((file, row, ".resource(decrypted)"), _open(aead, file, row, resource)))
    return out


def _aead(key: bytes, file):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) != 32:
        raise LogImportError(
            str(file.path), f"the APIv3 key must be 32 bytes (it is {len(key)}): check the key"
        )
    return AESGCM(key)


def _open(aead, file, row: int, resource: dict) -> dict:
    from cryptography.exceptions import InvalidTag

    if resource.get("algorithm") != ALGORITHM:
        raise file.error(
            row,
            ".resource.algorithm",
            f"unknown value {resource.get('algorithm')!r} (known: {ALGORITHM})",
        )
    for name in ("nonce", "ciphertext"):
        if not isinstance(resource.get(name), str):
            raise file.error(row, f".resource.{name}", "missing value (the field is required)")
    try:
        sealed = base64.b64decode(resource["ciphertext"], validate=True)
    except ValueError:
        raise file.error(row, ".resource.ciphertext", "not base64") from None
    try:
        plain = aead.decrypt(
            resource["nonce"].encode(),
            sealed,
            (resource.get("associated_data") or "").encode(),
        )
    except InvalidTag:
        raise file.error(
            row,
            ".resource.ciphertext",
            "decryption failed: the authentication tag does not match (a wrong APIv3 key, or "
            "a ciphertext, nonce or associated_data that was altered)",
        ) from None
    try:
        found = json.loads(plain)
    except ValueError:
        raise file.error(
            row, ".resource(decrypted)", "the decrypted resource is not JSON"
        ) from None
    if not isinstance(found, dict):
        raise file.error(row, ".resource(decrypted)", "expected an object")
    return found
