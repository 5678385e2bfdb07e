"""Alipay: the trade bill (业务明细, a GBK CSV, alone or in the downloaded zip), trade
query results with ``voucher_detail_list``, and merchant-voucher (商家券) user voucher
query results.

Files are recognised by content: a CSV or zip whose header (after the ``#`` comment
lines) names ``支付宝交易号`` is a bill; a JSON record with ``trade_no`` (bare or inside
``alipay_trade_query_response``) is a trade query result; one with
``user_voucher_base_info`` a voucher. ``assignments.csv`` (``experiment, buyer_user_id,
arm``, optional ``assigned_at``) brings experiment arms.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from lab.ingest import _platform as P
from lab.ingest._errors import LogImportError

BILL_COLUMNS = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
)
#: the columns the import reads; the others may be absent, and unknown ones are ignored
BILL_READ = (
    "支付宝交易号",
    "业务类型",
    "创建时间",
    "完成时间",
    "对方账户",
    "订单金额（元）",
    "券核销金额（元）",
)
BUSINESS_TYPES = ("交易", "退款")  # refunds are not modelled: their rows are skipped
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # Alipay writes Beijing time without an offset
VOUCHER_DETAIL = {
    "id": "str",
    "name": "str",
    "type": "str",
    "amount": "str",
    "merchant_contribute": "str",
    "other_contribute": "str",
    "template_id": "str",
}
TRADE = {
    "trade_no": "str",
    "out_trade_no": "str",
    "buyer_user_id": "str",
    "buyer_open_id": "str",
    "total_amount": "str",
    "send_pay_date": "str",
    "voucher_detail_list": [VOUCHER_DETAIL],
}
VOUCHER = {
    "user_id": "str",
    "open_id": "str",
    "user_voucher_base_info": {
        "voucher_id": "str",
        "voucher_name": "str",
        "voucher_status": "str",
        "create_time": "str",
        "valid_end_time": "str",
        "associate_trade_no": "str",
    },
    "activity_base_info": {"activity_id": "str", "activity_name": "str"},
}
VOUCHER_TYPES = {
    "ALIPAY_FIX_VOUCHER": "threshold",
    "ALIPAY_CASH_VOUCHER": "threshold",
    "ALIPAY_BIZ_VOUCHER": "threshold",
    "ALIPAY_DISCOUNT_VOUCHER": "discount",
}
VOUCHER_STATUSES = ("ENABLED", "USED", "EXPIRED", "DISABLED")
WRAPPER = "alipay_trade_query_response"
_BILL, _TRADES, _DETAILS, _VOUCHERS = (
    "_lab_plat_ali_bill",
    "_lab_plat_ali_trades",
    "_lab_plat_ali_details",
    "_lab_plat_ali_vouchers",
)


def kind_of(record: dict) -> str | None:
    if "user_voucher_base_info" in record:
        return "vouchers"
    if "trade_no" in record or WRAPPER in record:
        return "trades"
    return None


@dataclass
class BillFile:
    """One bill CSV (inside a zip: ``zip:member``), located by physical line."""

    label: str
    lines: list[int]  # physical line of each data row

    def error(self, row: int, column: str, reason: str) -> LogImportError:
        return LogImportError(self.label, reason, line=self.lines[row], column=column)


def is_bill(path: Path) -> bool:
    """A CSV or zip whose text (GBK) names 支付宝交易号."""
    try:
        if path.suffix.lower() == ".zip":
            return True
        return "支付宝交易号".encode("gb18030") in path.read_bytes()[: 1 << 16] or (
            "支付宝交易号".encode() in path.read_bytes()[: 1 << 16]
        )
    except OSError:
        return False


def bill_members(path: Path) -> list[tuple[str, bytes]]:
    """(label, bytes) of the bill CSVs in ``path`` (a zip's 业务明细 members, or the CSV)."""
    if path.suffix.lower() != ".zip":
        return [(str(path), path.read_bytes())]
    try:
        with zipfile.ZipFile(path) as z:
            members = []
            for info in z.infolist():
                raw_name = info.filename
                if not info.flag_bits & 0x800:  # names not flagged UTF-8 are GBK in these zips
                    raw_name = raw_name.encode("cp437").decode("gb18030", "replace")
                if raw_name.lower().endswith(".csv") and "汇总" not in raw_name:
                    members.append((f"{path}:{raw_name}", z.read(info)))
    except zipfile.BadZipFile:
        raise LogImportError(
            str(path), "not a zip file (a bill download is a zip of CSVs)"
        ) from None
    if not members:
        raise LogImportError(str(path), "no 业务明细 CSV in the zip")
    return members


def parse_bill(label: str, raw: bytes) -> tuple[BillFile, list[str], list[list[str]]]:
    """Decode a GBK bill, skip the ``#`` lines, return (locator, header, data rows)."""
    if _is_utf8_bill(raw):  # re-saved by an editor: GBK decoding would garble it
        text = raw.decode("utf-8-sig")
        line = next(n for n, x in enumerate(text.splitlines(), start=1) if "支付宝交易号" in x)
        raise LogImportError(
            label,
            "the text is UTF-8, but Alipay bills are GBK: use the downloaded file as it is "
            "(or save it as GBK)",
            line=line,
        )
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LogImportError(
            label,
            f"not GBK text (byte 0x{raw[exc.start]:02X}): Alipay bills are GBK-encoded",
            line=line,
        ) from None
    lines = text.splitlines()
    header, header_line, rows, where = None, None, [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            if header is not None:
                break  # the closing comment block
            continue
        record = [f.strip() for f in next(csv.reader([line]))]
        if header is None:
            header, header_line = record, number
            continue
        if len(record) != len(header):
            raise LogImportError(
                label,
                f"expected {len(header)} fields as in the header, found {len(record)}",
                line=number,
            )
        rows.append(record)
        where.append(number)
    if header is None:
        raise LogImportError(label, "no header line: expected the bill's column names")
    if "支付宝交易号" not in header:
        raise LogImportError(
            label, "not an Alipay trade bill: the header lacks 支付宝交易号", line=header_line
        )
    for col in header:
        if header.count(col) > 1:
            raise LogImportError(
                label, "column appears twice in the header", line=header_line, column=col
            )
    for col in BILL_READ:
        if col not in header:
            raise LogImportError(
                label,
                "missing column (the bill's columns are read by name)",
                line=header_line,
                column=col,
            )
    return BillFile(label, where), header, rows


def _is_utf8_bill(raw: bytes) -> bool:
    try:
        return "支付宝交易号" in raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False


def read(con: duckdb.DuckDBPyConnection, files: dict[str, list]) -> None:
    """Validate Alipay files (by kind) and fill the canonical staging tables
    (:func:`lab.ingest._platform.create_empty`)."""
    bills: list[BillFile] = []
    tables = []
    for path in files.get("bills", []):
        for label, raw in bill_members(path):
            locator, header, rows = parse_bill(label, raw)
            i = len(bills)
            bills.append(locator)
            cols = {
                c: [r[header.index(c)] or None for r in rows] for c in BILL_COLUMNS if c in header
            }
            for c in BILL_COLUMNS:
                cols.setdefault(c, [None] * len(rows))
            cols = {"_file": [i] * len(rows), "_row": list(range(len(rows))), **cols}
            tables.append(
                pa.table(
                    cols,
                    schema=pa.schema(
                        [pa.field("_file", pa.int64()), pa.field("_row", pa.int64())]
                        + [pa.field(c, pa.string()) for c in BILL_COLUMNS]
                    ),
                )
            )
    if tables:
        con.register("_lab_plat_ali_src", pa.concat_tables(tables))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_BILL} AS SELECT * FROM _lab_plat_ali_src")
        con.unregister("_lab_plat_ali_src")
        P.check(
            con,
            _BILL,
            _bill_rules(),
            lambda f, row, field, reason: bills[f].error(row, field, reason),
        )
    trades = files.get("trades", [])
    wrapped = False
    if trades:
        first = P.first_record(trades[0]) or {}
        wrapped = WRAPPER in first
        spec = {WRAPPER: TRADE} if wrapped else TRADE
        P.load_json(con, trades, spec, name=_TRADES)
        if wrapped:
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {_TRADES}_rows AS "
                f"SELECT _file, _row, unnest({WRAPPER}) FROM {_TRADES}"
            )
        trade_rows = f"{_TRADES}_rows" if wrapped else _TRADES
        base = f".{WRAPPER}" if wrapped else ""

        def locate(f, row, field, reason):
            return trades[f].error(row, base + field, reason)

        P.check(con, trade_rows, _trade_rules(), locate)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_DETAILS} AS
            SELECT _file, _row, k, trade_no, send_pay_date, d.* FROM (
                SELECT _file, _row, trade_no, send_pay_date, unnest(voucher_detail_list) AS d,
                       generate_subscripts(voucher_detail_list, 1) - 1 AS k
                FROM {trade_rows} WHERE voucher_detail_list IS NOT NULL)"""
        )
        P.check(con, _DETAILS, _detail_rules(), locate, item="k")
    vouchers = files.get("vouchers", [])
    if vouchers:
        P.load_json(con, vouchers, VOUCHER, name=_VOUCHERS)
        P.check(
            con,
            _VOUCHERS,
            _voucher_rules(),
            lambda f, row, field, reason: vouchers[f].error(row, field, reason),
        )
    _fill(con, bill=bool(tables), trades=trade_rows if trades else None, vouchers=bool(vouchers))


def _local(sql: str) -> str:
    return f"try_strptime(trim({sql}), '{TIME_FORMAT}')"


def _time_rule(field: str, sql: str, *, needed: bool = True) -> list:
    out = [P.required(field, sql)] if needed else []
    return out + [
        P.Rule(
            field,
            f"{sql} IS NOT NULL AND {_local(sql)} IS NULL",
            lambda v: f"unparseable time {v!r} (expected YYYY-MM-DD HH:MM:SS, Beijing time)",
            sql,
        )
    ]


def _q(col: str) -> str:
    return f'"{col}"'


def _bill_rules() -> list:
    trade = f"{_q('业务类型')} = '交易'"
    out = [
        P.required("业务类型", _q("业务类型")),
        P.enum_rule("业务类型", _q("业务类型"), BUSINESS_TYPES),
        P.required("支付宝交易号", _q("支付宝交易号")),
        *_time_rule("创建时间", _q("创建时间")),
        *_time_rule("完成时间", _q("完成时间"), needed=False),
    ]
    for rule in (
        *P.yuan_rules("订单金额（元）", _q("订单金额（元）")),
        *P.yuan_rules("券核销金额（元）", _q("券核销金额（元）"), needed=False),
    ):
        # refund rows carry negative amounts; only trades are read
        out.append(
            P.Rule(
                rule.field, f"{trade} AND ({rule.condition})", rule.reason, rule.value, rule.params
            )
        )
    return out


def _trade_rules() -> list:
    return [
        P.required(".trade_no", "trade_no"),
        P.Rule(
            ".buyer_user_id",
            "buyer_user_id IS NULL AND buyer_open_id IS NULL",
            lambda v: "missing value: a trade needs buyer_user_id or buyer_open_id",
        ),
        *P.yuan_rules(".total_amount", "total_amount"),
        *_time_rule(".send_pay_date", "send_pay_date"),
    ]


def _detail_rules() -> list:
    base = ".voucher_detail_list[{k}]"
    return [
        P.required(f"{base}.id", "id"),
        P.required(f"{base}.type", "type"),
        P.enum_rule(f"{base}.type", "type", tuple(VOUCHER_TYPES)),
        *P.yuan_rules(f"{base}.amount", "amount"),
        *P.yuan_rules(f"{base}.merchant_contribute", "merchant_contribute", needed=False),
        *P.yuan_rules(f"{base}.other_contribute", "other_contribute", needed=False),
    ]


def _voucher_rules() -> list:
    u, a = "user_voucher_base_info", "activity_base_info"
    return [
        P.Rule(
            ".user_id",
            "user_id IS NULL AND open_id IS NULL",
            lambda v: (
                "missing value: whose voucher is it? add the user_id (or open_id) of the query"
            ),
        ),
        P.required(f".{u}.voucher_id", f"{u}.voucher_id"),
        P.required(f".{u}.voucher_status", f"{u}.voucher_status"),
        P.enum_rule(f".{u}.voucher_status", f"{u}.voucher_status", VOUCHER_STATUSES),
        *_time_rule(f".{u}.create_time", f"{u}.create_time"),
        *_time_rule(f".{u}.valid_end_time", f"{u}.valid_end_time", needed=False),
        P.required(f".{a}.activity_id", f"{a}.activity_id"),
    ]


def _fill(con, *, bill: bool, trades: str | None, vouchers: bool) -> None:
    fen = P.yuan_to_fen
    empty_trades = (
        "(SELECT NULL::VARCHAR AS trade_no, NULL::VARCHAR AS buyer, NULL::TIMESTAMP AS paid, "
        "NULL::VARCHAR AS voucher, NULL::BIGINT AS amount_fen, NULL::BIGINT AS discount_fen)"
    )
    if trades:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _lab_plat_ali_t AS
            SELECT trade_no, coalesce(buyer_user_id, buyer_open_id) AS buyer,
                   {_local("send_pay_date")} AS paid, voucher_detail_list[1].id AS voucher,
                   {fen("total_amount")} AS amount_fen,
                   coalesce(list_sum([{fen("d.amount")} FOR d IN voucher_detail_list]), 0)
                       AS discount_fen
            FROM {trades}
            QUALIFY row_number() OVER (PARTITION BY trade_no ORDER BY _file, _row) = 1"""
        )
        t = "_lab_plat_ali_t"
    else:
        t = empty_trades
    if bill:
        con.execute(
            f"""INSERT INTO {P.CANONICAL["orders"]}
            SELECT b.{_q("支付宝交易号")}, coalesce(t.buyer, b.{_q("对方账户")}),
                   coalesce({_local(_q("完成时间"))}, {_local(_q("创建时间"))}),
                   {fen(_q("订单金额（元）"))}, coalesce({fen(_q("券核销金额（元）"))}, 0),
                   t.voucher, NULL
            FROM {_BILL} b LEFT JOIN {t} t ON t.trade_no = b.{_q("支付宝交易号")}
            WHERE b.{_q("业务类型")} = '交易'
            QUALIFY row_number() OVER (PARTITION BY b.{_q("支付宝交易号")} ORDER BY b._file, b._row) = 1"""
        )
    elif trades:
        con.execute(
            f"""INSERT INTO {P.CANONICAL["orders"]}
            SELECT trade_no, buyer, paid, amount_fen, discount_fen, voucher, NULL FROM {t}"""
        )
    details = (
        f"""(SELECT id, any_value(template_id) AS template_id, any_value(type) AS type,
                    any_value(trade_no) AS trade_no, any_value({fen("amount")}) AS discount_fen,
                    min({_local("send_pay_date")}) AS paid
             FROM {_DETAILS} GROUP BY id)"""
        if trades
        else "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS template_id, NULL::VARCHAR AS type, "
        "NULL::VARCHAR AS trade_no, NULL::BIGINT AS discount_fen, NULL::TIMESTAMP AS paid)"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _lab_plat_ali_d AS SELECT * FROM {details}")
    if vouchers:
        u, a = "user_voucher_base_info", "activity_base_info"
        con.execute(
            f"""INSERT INTO {P.CANONICAL["stocks"]} (stock_key, campaign, stock_type)
            SELECT s.stock_key, s.campaign,
                   coalesce(CASE any_value(d.type) {" ".join(f"WHEN '{k}' THEN '{v}'" for k, v in VOUCHER_TYPES.items())} END,
                            'threshold')
            FROM (SELECT {a}.activity_id AS stock_key, any_value({a}.activity_name) AS campaign,
                         min(_file * 4294967296 + _row) AS first
                  FROM {_VOUCHERS} GROUP BY ALL) s
            LEFT JOIN _lab_plat_ali_d d ON d.template_id = s.stock_key
            GROUP BY s.stock_key, s.campaign, s.first ORDER BY s.first"""
        )
        con.execute(
            f"""INSERT INTO {P.CANONICAL["coupons"]}
            SELECT v.{u}.voucher_id, any_value(v.{a}.activity_id),
                   any_value(coalesce(v.user_id, v.open_id)), min({_local(f"v.{u}.create_time")}),
                   NULL, NULL, max({_local(f"v.{u}.valid_end_time")}),
                   CASE WHEN bool_or(v.{u}.voucher_status = 'USED') THEN min(coalesce(d.paid, t.paid)) END,
                   CASE WHEN bool_or(v.{u}.voucher_status = 'USED')
                        THEN any_value(coalesce(d.trade_no, v.{u}.associate_trade_no)) END,
                   any_value(d.discount_fen),
                   CASE WHEN bool_or(v.{u}.voucher_status = 'EXPIRED')
                        THEN max({_local(f"v.{u}.valid_end_time")}) END
            FROM {_VOUCHERS} v LEFT JOIN _lab_plat_ali_d d ON d.id = v.{u}.voucher_id
            LEFT JOIN {t} t ON t.trade_no = v.{u}.associate_trade_no
            GROUP BY v.{u}.voucher_id"""
        )
