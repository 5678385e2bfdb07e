"""Write a run in the formats WeChat Pay and Alipay give a coupon team, for round trips
and tests: ``python -m lab export --format wechatpay|alipay RUN DIR``.

Only what each format carries is written (``docs/real-logs.md`` lists the rest). Ids
stay numeric where the platform's ids are (stocks, coupons), so a round trip keeps
them; users become openids (``oLAB`` + the zero-padded user id) or Alipay user ids
(``2088`` + the padded id), and orders platform transaction numbers.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from pathlib import Path

from lab.store import Store

EXPORT_FORMATS = ("wechatpay", "alipay")
#: Asia/Shanghai has kept UTC+8 since 1991: the offset every exported time carries
OFFSET = "+08:00"
_WX_OPENID = "'oLAB' || lpad(CAST({} AS VARCHAR), 24, '0')"
_ALI_USER = "'2088' || lpad(CAST({} AS VARCHAR), 12, '0')"


def _rfc3339(col: str) -> str:
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN epoch_us({col}) % 1000000 = 0 "
        f"THEN strftime({col}, '%Y-%m-%dT%H:%M:%S') || '{OFFSET}' "
        f"ELSE strftime({col}, '%Y-%m-%dT%H:%M:%S.%f') || '{OFFSET}' END"
    )


def _local(col: str) -> str:
    return f"strftime({col}, '%Y-%m-%d %H:%M:%S')"


def _yuan(col: str) -> str:
    return f"printf('%d.%02d', {col} // 100, {col} % 100)"


def export_platform(
    store: Store,
    run_id: str,
    directory: str | Path,
    *,
    format: str,
    apiv3_key: bytes | str | None = None,
    retries: int = 0,
) -> list[Path]:
    """Write run ``run_id`` into ``directory`` as WeChat Pay or Alipay files.

    Parameters
    ----------
    store : Store
        The store holding the run.
    run_id : str
        Run to export.
    directory : str or Path
        Where to write (created if missing).
    format : {"wechatpay", "alipay"}, keyword-only
        WeChat Pay: ``stocks.jsonl``, ``coupons.jsonl``, ``notifications.jsonl``
        (``COUPON.USE``), ``payments.jsonl``. Alipay: ``trade_bill.zip`` (GBK 业务明细
        CSV), ``trade_query.jsonl``, ``vouchers.jsonl``. Both: ``assignments.csv``.
    apiv3_key : bytes or str, optional, keyword-only
        WeChat Pay: encrypt the notifications' resources with this 32-byte key
        (AEAD_AES_256_GCM), as the platform delivers them.
    retries : int, keyword-only
        WeChat Pay: deliver every fourth notification this many extra times, as the
        platform's retries do.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ValueError
        The run holds stocks the format cannot express (WeChat Pay cash coupons have a
        fixed face value: no discount-rate or random-amount stocks).

    Examples
    --------
    >>> import lab, tempfile
    >>> store = lab.Store(":memory:")
    >>> run = lab.simulate("aa_test", store=store, users=200, days=7, progress=False)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = export_platform(store, run, tmp, format="wechatpay")
    ...     back = lab.import_logs(tmp, store=store, format="wechatpay")
    >>> sorted(p.name for p in files)[:2]
    ['assignments.csv', 'coupons.jsonl']
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}; got {format!r}")
    store.run(run_id)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(apiv3_key, str):
        apiv3_key = apiv3_key.encode()
    with store.connect() as con:
        if format == "wechatpay":
            files = _wechatpay(con, run_id, out, apiv3_key, retries)
        else:
            files = _alipay(con, run_id, out)
        files.append(_assignments(con, run_id, out, format))
    return files


def _copy_json(con, sql: str, params: list, path: Path) -> Path:
    con.execute(f"COPY ({sql}) TO '{_quoted(path)}' (FORMAT json)", params)
    return path


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _wechatpay(con, run: str, out: Path, key: bytes | None, retries: int) -> list[Path]:
    bad = con.execute(
        "SELECT stock_id, stock_type FROM stocks WHERE run_id = ? "
        "AND stock_type NOT IN ('threshold', 'no_threshold') ORDER BY stock_id LIMIT 1",
        [run],
    ).fetchone()
    if bad:
        raise ValueError(
            f"stock {bad[0]} is a {bad[1]} stock: WeChat Pay cash coupons (代金券) have a fixed "
            "face value, so the run cannot be exported as wechatpay"
        )
    openid = _WX_OPENID.format
    stocks = _copy_json(
        con,
        f"""SELECT CAST(stock_id AS VARCHAR) AS stock_id,
                   CAST(merchant_id AS VARCHAR) AS stock_creator_mchid,
                   coalesce(campaign, 'stock ' || stock_id) AS stock_name, 'running' AS status,
                   {_rfc3339("valid_from")} AS available_begin_time,
                   {_rfc3339("valid_until")} AS available_end_time,
                   false AS no_cash, false AS singleitem, 'NORMAL' AS stock_type,
                   {{'max_coupons': max_coupons, 'max_amount': total_budget_fen,
                     'max_amount_by_day': daily_budget_fen,
                     'max_coupons_per_user': max_per_user,
                     'natural_person_limit': natural_person_limit,
                     'prevent_api_abuse': false,
                     'fixed_normal_coupon': {{'coupon_amount': amount_fen,
                                              'transaction_minimum': transaction_minimum_fen}},
                     'coupon_type': 'NORMAL',
                     'goods_tag': CASE WHEN goods_tag IS NOT NULL THEN [goods_tag] END}}
                       AS stock_use_rule
            FROM stocks WHERE run_id = ? ORDER BY stock_id""",
        [run],
        out / "stocks.jsonl",
    )
    txn = "'4200' || lpad(CAST({} AS VARCHAR), 24, '0')".format
    coupons = _copy_json(
        con,
        f"""SELECT CAST(c.stock_id AS VARCHAR) AS stock_id,
                   CAST(c.coupon_id AS VARCHAR) AS coupon_id, {openid("c.user_id")} AS openid,
                   coalesce(s.campaign, 'stock ' || c.stock_id) AS coupon_name,
                   CASE WHEN c.redeemed_at IS NOT NULL THEN 'USED'
                        WHEN c.expired_at IS NOT NULL THEN 'EXPIRED' ELSE 'SENDED' END AS status,
                   {_rfc3339("coalesce(c.issued_at, c.claimed_at)")} AS create_time,
                   'NORMAL' AS coupon_type,
                   {_rfc3339("coalesce(c.expired_at, c.valid_until)")} AS available_end_time,
                   {{'coupon_amount': c.amount_fen,
                     'transaction_minimum': c.transaction_minimum_fen}}
                       AS normal_coupon_information,
                   CASE WHEN c.redeemed_at IS NOT NULL THEN
                       {{'consume_time': {_rfc3339("c.redeemed_at")},
                         'consume_mchid': CAST(s.merchant_id AS VARCHAR),
                         'transaction_id': {txn("c.order_id")}}} END AS consume_information
            FROM coupons c LEFT JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE c.run_id = ? AND c.status IN ('issued', 'compensated') ORDER BY c.coupon_id""",
        [run],
        out / "coupons.jsonl",
    )
    payments = _copy_json(
        con,
        f"""SELECT {txn("o.order_id")} AS transaction_id, 'LAB' || o.order_id AS out_trade_no,
                   CAST(o.merchant_id AS VARCHAR) AS mchid,
                   {{'openid': {openid("o.user_id")}}} AS payer,
                   {{'total': o.amount_fen, 'payer_total': o.amount_fen - o.discount_fen,
                     'currency': 'CNY'}} AS amount,
                   {_rfc3339("o.ts")} AS success_time, 'JSAPI' AS trade_type,
                   CASE WHEN o.coupon_id IS NOT NULL THEN
                       [{{'coupon_id': CAST(o.coupon_id AS VARCHAR), 'name': s.campaign,
                          'scope': 'GLOBAL', 'type': 'CASH', 'amount': o.discount_fen,
                          'stock_id': CAST(c.stock_id AS VARCHAR), 'wechatpay_contribute': 0,
                          'merchant_contribute': o.discount_fen, 'other_contribute': 0,
                          'currency': 'CNY'}}] END AS promotion_detail
            FROM orders o
            LEFT JOIN coupons c ON c.run_id = o.run_id AND c.coupon_id = o.coupon_id
            LEFT JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE o.run_id = ? ORDER BY o.order_id""",
        [run],
        out / "payments.jsonl",
    )
    used = con.execute(
        f"""SELECT c.coupon_id, {_rfc3339("c.redeemed_at")}, CAST(c.stock_id AS VARCHAR),
                   coalesce(s.campaign, 'stock ' || c.stock_id),
                   {_rfc3339("coalesce(c.issued_at, c.claimed_at)")},
                   {_rfc3339("c.valid_until")}, c.amount_fen, c.transaction_minimum_fen,
                   {txn("c.order_id")}, c.discount_fen, CAST(s.merchant_id AS VARCHAR)
            FROM coupons c LEFT JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE c.run_id = ? AND c.redeemed_at IS NOT NULL ORDER BY c.redeemed_at, c.coupon_id""",
        [run],
    ).fetchall()
    aead = None
    if key is not None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        aead = AESGCM(key)
    notifications = out / "notifications.jsonl"
    with open(notifications, "w", encoding="utf-8") as f:
        for cid, at, stock, name, created, until, amount, minimum, txn_id, discount, mch in used:
            resource = {
                "stock_creator_mchid": mch,
                "stock_id": stock,
                "coupon_id": str(cid),
                "coupon_name": name,
                "status": "USED",
                "create_time": created,
                "coupon_type": "NORMAL",
                "available_end_time": until,
                "normal_coupon_information": {
                    "coupon_amount": amount,
                    "transaction_minimum": minimum,
                },
                "consume_information": {
                    "consume_time": at,
                    "consume_mchid": mch,
                    "transaction_id": txn_id,
                    "consume_amount": discount,
                },
            }
            plain = json.dumps(resource, ensure_ascii=False)
            if aead is None:
                body = resource
            else:
                nonce = f"{cid:012d}"[-12:]
                sealed = aead.encrypt(nonce.encode(), plain.encode(), b"coupon")
                body = {
                    "algorithm": "AEAD_AES_256_GCM",
                    "associated_data": "coupon",
                    "nonce": nonce,
                    "ciphertext": base64.b64encode(sealed).decode(),
                    "original_type": "coupon",
                }
            envelope = {
                "id": f"EV-{cid:012d}",
                "create_time": at,
                "resource_type": "encrypt-resource",
                "event_type": "COUPON.USE",
                "summary": "代金券核销通知",
                "resource": body,
            }
            line = json.dumps(envelope, ensure_ascii=False) + "\n"
            f.write(line * (1 + (retries if cid % 4 == 0 else 0)))
    return [stocks, coupons, notifications, payments]


BILL_ORDER = (  # the bill's columns in a version's order (importers read them by name)
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号",
    "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）",
    "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）",
    "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）",
    "分润（元）", "备注",
)  # fmt: skip


def _alipay(con, run: str, out: Path) -> list[Path]:
    user = _ALI_USER.format
    trade = "'2026' || lpad(CAST({} AS VARCHAR), 24, '0')".format
    rows = con.execute(
        f"""SELECT {trade("o.order_id")}, 'LAB' || o.order_id, {_local("o.ts")},
                   '138****' || lpad(CAST(o.user_id % 10000 AS VARCHAR), 4, '0'),
                   {_yuan("o.amount_fen")}, {_yuan("o.amount_fen - o.discount_fen")},
                   {_yuan("o.discount_fen")}, coalesce(s.campaign, '')
            FROM orders o
            LEFT JOIN coupons c ON c.run_id = o.run_id AND c.coupon_id = o.coupon_id
            LEFT JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE o.run_id = ? ORDER BY o.order_id""",
        [run],
    ).fetchall()
    # a later bill version moved the money columns ahead of the times: read by name
    order = (*BILL_ORDER[:4], *BILL_ORDER[11:19], *BILL_ORDER[4:11], *BILL_ORDER[19:])
    buf = io.StringIO()
    buf.write("#支付宝交易记录明细查询\n#账号：[20880000000000000156]\n")
    buf.write(
        "#起始日期：[导出]\n#-----------------------------------------业务明细列表----------------------------------------\n"
    )
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(order)
    zeros = "0.00"
    for trade_no, out_no, ts, buyer, amount, received, discount, coupon_name in rows:
        values = {
            "支付宝交易号": trade_no, "商户订单号": out_no, "业务类型": "交易", "商品名称": "订单",
            "创建时间": ts, "完成时间": ts, "门店编号": "", "门店名称": "", "操作员": "",
            "终端号": "", "对方账户": buyer, "订单金额（元）": amount, "商家实收（元）": received,
            "支付宝红包（元）": zeros, "集分宝（元）": zeros, "支付宝优惠（元）": zeros,
            "商家优惠（元）": discount, "券核销金额（元）": discount, "券名称": coupon_name,
            "商家红包消费金额（元）": zeros, "卡消费金额（元）": zeros, "退款批次号/请求号": "",
            "服务费（元）": zeros, "分润（元）": zeros, "备注": "",
        }  # fmt: skip
        writer.writerow([values[c] for c in order])
    buf.write(
        "#-----------------------------------------业务明细列表结束------------------------------------\n"
    )
    buf.write(f"#交易合计：{len(rows)}笔\n#导出时间：[lab export]\n")
    bill = out / "trade_bill.zip"
    with zipfile.ZipFile(bill, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("20880000000000000156_业务明细.csv", buf.getvalue().encode("gb18030"))
    detail = f"""CASE WHEN o.coupon_id IS NOT NULL THEN
        [{{'id': CAST(o.coupon_id AS VARCHAR), 'name': s.campaign, 'type': 'ALIPAY_FIX_VOUCHER',
           'amount': {_yuan("o.discount_fen")}, 'merchant_contribute': {_yuan("o.discount_fen")},
           'other_contribute': '0.00', 'template_id': CAST(c.stock_id AS VARCHAR)}}] END"""
    trades = _copy_json(
        con,
        f"""SELECT {{'code': '10000', 'msg': 'Success', 'trade_no': {trade("o.order_id")},
                     'out_trade_no': 'LAB' || o.order_id, 'buyer_user_id': {user("o.user_id")},
                     'trade_status': 'TRADE_SUCCESS', 'total_amount': {_yuan("o.amount_fen")},
                     'receipt_amount': {_yuan("o.amount_fen - o.discount_fen")},
                     'buyer_pay_amount': {_yuan("o.amount_fen - o.discount_fen")},
                     'send_pay_date': {_local("o.ts")}, 'voucher_detail_list': {detail}}}
                       AS alipay_trade_query_response, 'lab-export' AS sign
            FROM orders o
            LEFT JOIN coupons c ON c.run_id = o.run_id AND c.coupon_id = o.coupon_id
            LEFT JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE o.run_id = ? ORDER BY o.order_id""",
        [run],
        out / "trade_query.jsonl",
    )
    vouchers = _copy_json(
        con,
        f"""SELECT {user("c.user_id")} AS user_id,
                   {{'voucher_id': CAST(c.coupon_id AS VARCHAR),
                     'voucher_name': coalesce(s.campaign, 'stock ' || c.stock_id),
                     'voucher_status': CASE WHEN c.redeemed_at IS NOT NULL THEN 'USED'
                                            WHEN c.expired_at IS NOT NULL THEN 'EXPIRED'
                                            ELSE 'ENABLED' END,
                     'create_time': {_local("coalesce(c.issued_at, c.claimed_at)")},
                     'valid_begin_time': {_local("coalesce(c.issued_at, c.claimed_at)")},
                     'valid_end_time': {_local("coalesce(c.expired_at, c.valid_until)")},
                     'voucher_max_use_times': 1,
                     'voucher_used_times': CASE WHEN c.redeemed_at IS NOT NULL THEN 1 ELSE 0 END,
                     'associate_trade_no': CASE WHEN c.redeemed_at IS NOT NULL
                                                THEN {trade("c.order_id")} END}}
                       AS user_voucher_base_info,
                   {{'activity_id': CAST(c.stock_id AS VARCHAR),
                     'activity_name': coalesce(s.campaign, 'stock ' || c.stock_id),
                     'activity_status': 'ONGOING'}} AS activity_base_info
            FROM coupons c LEFT JOIN stocks s ON s.run_id = c.run_id AND s.stock_id = c.stock_id
            WHERE c.run_id = ? AND c.status IN ('issued', 'compensated') ORDER BY c.coupon_id""",
        [run],
        out / "vouchers.jsonl",
    )
    return [bill, trades, vouchers]


def _assignments(con, run: str, out: Path, format: str) -> Path:
    user = (_WX_OPENID if format == "wechatpay" else _ALI_USER).format("user_id")
    col = "openid" if format == "wechatpay" else "buyer_user_id"
    path = out / "assignments.csv"
    con.execute(
        f"COPY (SELECT experiment, {user} AS {col}, arm, {_local('assigned_at')} AS assigned_at "
        "FROM assignments WHERE run_id = ? ORDER BY experiment, user_id) "
        f"TO '{_quoted(path)}' (FORMAT csv, HEADER true)",
        [run],
    )
    return path
