"""One test per bad-input class of the platform formats: the message names the file, the
line (or JSON path), the field and the reason, and the database is left unchanged."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest
from platform_helpers import KEY, fails


def edit_json(path: Path, line: int, change) -> None:
    """Apply ``change`` to the object on 1-based ``line`` of a JSON-lines file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[line - 1])
    change(record)
    lines[line - 1] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def first_line_with(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


# -- WeChat Pay ----------------------------------------------------------------------------
def test_wechat_json_in_gbk_names_line_and_field(store, wx):
    path = wx / "stocks.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    record["stock_name"] = "满50减8"
    lines[1] = json.dumps(record, ensure_ascii=False)
    path.write_bytes("\n".join(lines).encode("gb18030") + b"\n")
    fails(
        store,
        wx,
        f"{path}:2: column $.stock_name: not valid UTF-8 (GBK or another encoding?): JSON is UTF-8",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_wechat_missing_field(store, wx):
    path = wx / "payments.jsonl"
    edit_json(path, 3, lambda r: r["amount"].pop("total"))
    fails(
        store,
        wx,
        f"{path}:3: column $.amount.total: missing value (the field is required)",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_wechat_unknown_stock_type(store, wx):
    path = wx / "stocks.jsonl"
    edit_json(path, 2, lambda r: r.update(stock_type="DISCOUNT_CUT"))
    fails(
        store,
        wx,
        f"{path}:2: column $.stock_type: unknown value 'DISCOUNT_CUT' (the lab reads cash-coupon "
        "stocks) (known: NORMAL)",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_wechat_unknown_coupon_status(store, wx):
    path = wx / "coupons.jsonl"
    edit_json(path, 4, lambda r: r.update(status="FROZEN"))
    fails(
        store,
        wx,
        f"{path}:4: column $.status: unknown value 'FROZEN' (known: SENDED, USED, EXPIRED, RECOVER)",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_wechat_negative_fen(store, wx):
    path = wx / "payments.jsonl"
    line = first_line_with(path, '"promotion_detail":[')
    edit_json(path, line, lambda r: r["promotion_detail"][0].update(amount=-800))
    fails(
        store,
        wx,
        f"{path}:{line}: column $.promotion_detail[0].amount: negative amount -800 fen",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_wechat_fractional_fen(store, wx):
    path = wx / "stocks.jsonl"
    edit_json(
        path, 1, lambda r: r["stock_use_rule"]["fixed_normal_coupon"].update(coupon_amount=800.5)
    )
    fails(
        store,
        wx,
        f"{path}:1: column $.stock_use_rule.fixed_normal_coupon.coupon_amount: fractional fen "
        "800.5: money is a whole number of fen (1 yuan = 100 fen)",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_wechat_wrong_json_type_is_located_by_the_slow_path(store, wx):
    path = wx / "payments.jsonl"
    edit_json(path, 5, lambda r: r.update(payer="oLAB1"))
    fails(
        store,
        wx,
        f'{path}:5: column $.payer: expected an object, found "oLAB1"',
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_wechat_promotion_split_must_add_up(store, wx):
    path = wx / "payments.jsonl"
    line = first_line_with(path, '"promotion_detail":[')
    edit_json(path, line, lambda r: r["promotion_detail"][0].update(wechatpay_contribute=1))
    amount = json.loads(path.read_text().splitlines()[line - 1])["promotion_detail"][0]["amount"]
    fails(
        store,
        wx,
        f"{path}:{line}: column $.promotion_detail[0].amount: the contribution split adds up "
        f"to {amount + 1} fen, not the amount {amount}",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_callback_with_the_wrong_key_fails_authentication(store, wx):
    path = wx / "notifications.jsonl"
    fails(
        store,
        wx,
        f"{path}:1: column $.resource.ciphertext: decryption failed: the authentication tag does "
        "not match (a wrong APIv3 key, or a ciphertext, nonce or associated_data that was altered)",
        format="wechatpay",
        apiv3_key=b"x" * 32,
    )


def test_altered_callback_fails_authentication(store, wx):
    path = wx / "notifications.jsonl"

    def flip(record):
        sealed = bytearray(base64.b64decode(record["resource"]["ciphertext"]))
        sealed[3] ^= 1
        record["resource"]["ciphertext"] = base64.b64encode(bytes(sealed)).decode()

    edit_json(path, 2, flip)
    error = fails(store, wx, str(_message(store, wx)), format="wechatpay", apiv3_key=KEY)
    assert (error.file, error.line, error.column) == (str(path), 2, "$.resource.ciphertext")
    assert error.reason.startswith("decryption failed: the authentication tag does not match")


def _message(store, path):
    from lab.ingest import LogImportError, import_logs

    try:
        import_logs(path, store=store, format="wechatpay", apiv3_key=KEY)
    except LogImportError as exc:
        return exc
    raise AssertionError("the import should fail")


def test_encrypted_callbacks_need_the_key(store, wx):
    fails(
        store,
        wx,
        f"{wx / 'notifications.jsonl'}:1: column $.resource.ciphertext: the notification is "
        "encrypted: pass the merchant's APIv3 key (apiv3_key=, or --apiv3-key-file on the "
        "command line)",
        format="wechatpay",
    )


def test_decrypted_callback_with_a_bad_field_names_the_envelope(store, wx_plain):
    path = wx_plain / "notifications.jsonl"
    edit_json(path, 1, lambda r: r["resource"].update(coupon_type="CUT_TO"))
    fails(
        store,
        wx_plain,
        f"{path}:1: column $.resource.coupon_type: unknown value 'CUT_TO' (CUT_TO 减至 coupons "
        "set a price; the lab models amounts off) (known: NORMAL)",
        format="wechatpay",
    )


def test_coupon_of_an_unknown_stock(store, wx):
    path = wx / "coupons.jsonl"
    line = first_line_with(path, '"status":"SENDED"')
    edit_json(path, line, lambda r: r.update(stock_id="424242"))
    fails(
        store,
        wx,
        f"{path}:{line}: column $.stock_id: stock 424242 is not among the imported stocks",
        format="wechatpay",
        apiv3_key=KEY,
    )


def test_unparseable_rfc3339_time(store, wx):
    path = wx / "payments.jsonl"
    edit_json(path, 7, lambda r: r.update(success_time="2026-03-02 10:15:00"))
    fails(
        store,
        wx,
        f"{path}:7: column $.success_time: unparseable time '2026-03-02 10:15:00' (expected "
        "RFC 3339, such as 2026-03-02T10:15:00+08:00)",
        format="wechatpay",
        apiv3_key=KEY,
    )


# -- Alipay ------------------------------------------------------------------------------
def bill_text(ali: Path) -> tuple[str, str]:
    with zipfile.ZipFile(ali / "trade_bill.zip") as z:
        (name,) = z.namelist()
        return name, z.read(name).decode("gb18030")


def write_bill(ali: Path, text: str, *, encoding: str = "gb18030") -> Path:
    """Replace the zip by the bare CSV (a bill is accepted either way)."""
    (ali / "trade_bill.zip").unlink()
    path = ali / "trade_bill.csv"
    path.write_bytes(text.encode(encoding))
    return path


def edit_bill_cell(text: str, data_row: int, column: str, value: str) -> tuple[str, int]:
    """Set ``column`` of the ``data_row``-th data row; return the text and its line."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    cols = lines[header].split(",")
    line = header + data_row
    cells = lines[line].split(",")
    cells[cols.index(column)] = value
    lines[line] = ",".join(cells)
    return "\n".join(lines) + "\n", line + 1


def test_alipay_bill_saved_as_utf8(store, ali):
    _, text = bill_text(ali)
    path = write_bill(ali, text, encoding="utf-8")
    fails(
        store,
        ali,
        f"{path}:5: the text is UTF-8, but Alipay bills are GBK: use the downloaded file as it "
        "is (or save it as GBK)",
        format="alipay",
    )


def test_alipay_bill_with_bytes_gbk_cannot_hold(store, ali):
    _, text = bill_text(ali)
    path = write_bill(ali, text)
    raw = path.read_bytes().replace("订单".encode("gb18030"), b"\x81\x20", 1)
    path.write_bytes(raw)
    line = raw[: raw.index(b"\x81\x20")].count(b"\n") + 1
    fails(
        store,
        ali,
        f"{path}:{line}: not GBK text (byte 0x81): Alipay bills are GBK-encoded",
        format="alipay",
    )


def test_alipay_bill_missing_column(store, ali):
    _, text = bill_text(ali)
    path = write_bill(ali, text.replace("订单金额（元）", "订单金额", 1))
    fails(
        store,
        ali,
        f"{path}:5: column 订单金额（元）: missing column (the bill's columns are read by name)",
        format="alipay",
    )


def test_alipay_yuan_with_three_decimals(store, ali):
    _, text = bill_text(ali)
    text, line = edit_bill_cell(text, 3, "订单金额（元）", "12.345")
    path = write_bill(ali, text)
    fails(
        store,
        ali,
        f"{path}:{line}: column 订单金额（元）: '12.345' has more than 2 decimals: yuan amounts "
        "are whole fen (0.01 yuan)",
        format="alipay",
    )


def test_alipay_negative_yuan_in_a_trade(store, ali):
    _, text = bill_text(ali)
    text, line = edit_bill_cell(text, 2, "券核销金额（元）", "-3.00")
    path = write_bill(ali, text)
    fails(
        store,
        ali,
        f"{path}:{line}: column 券核销金额（元）: negative amount '-3.00' yuan",
        format="alipay",
    )


def test_alipay_refund_rows_are_skipped_not_rejected(store, ali):
    _, text = bill_text(ali)
    text, _ = edit_bill_cell(text, 2, "业务类型", "退款")
    text, _ = edit_bill_cell(text, 2, "订单金额（元）", "-3.00")
    write_bill(ali, text)
    from lab.ingest import import_logs

    run = import_logs(ali, store=store, format="alipay")
    assert store.describe_run(run).set_index("table")["rows"]["orders"] > 0


def test_alipay_unknown_business_type(store, ali):
    _, text = bill_text(ali)
    text, line = edit_bill_cell(text, 4, "业务类型", "分账")
    path = write_bill(ali, text)
    fails(
        store,
        ali,
        f"{path}:{line}: column 业务类型: unknown value '分账' (known: 交易, 退款)",
        format="alipay",
    )


def test_alipay_unknown_voucher_type(store, ali):
    path = ali / "trade_query.jsonl"
    line = first_line_with(path, '"voucher_detail_list":[')
    edit_json(
        path,
        line,
        lambda r: r["alipay_trade_query_response"]["voucher_detail_list"][0].update(
            type="ALIPAY_NEW_VOUCHER"
        ),
    )
    fails(
        store,
        ali,
        f"{path}:{line}: column $.alipay_trade_query_response.voucher_detail_list[0].type: "
        "unknown value 'ALIPAY_NEW_VOUCHER' (known: ALIPAY_FIX_VOUCHER, ALIPAY_CASH_VOUCHER, "
        "ALIPAY_BIZ_VOUCHER, ALIPAY_DISCOUNT_VOUCHER)",
        format="alipay",
    )


def test_alipay_query_amount_with_three_decimals(store, ali):
    path = ali / "trade_query.jsonl"
    edit_json(path, 2, lambda r: r["alipay_trade_query_response"].update(total_amount="8.125"))
    fails(
        store,
        ali,
        f"{path}:2: column $.alipay_trade_query_response.total_amount: '8.125' has more than 2 "
        "decimals: yuan amounts are whole fen (0.01 yuan)",
        format="alipay",
    )


def test_alipay_voucher_missing_field(store, ali):
    path = ali / "vouchers.jsonl"
    edit_json(path, 3, lambda r: r["user_voucher_base_info"].pop("create_time"))
    fails(
        store,
        ali,
        f"{path}:3: column $.user_voucher_base_info.create_time: missing value (the field is "
        "required)",
        format="alipay",
    )


@pytest.mark.parametrize("member", ["zip", "csv"])
def test_alipay_bill_reads_from_zip_or_csv_alike(store, ali, member):
    from lab.ingest import import_logs

    if member == "csv":
        _, text = bill_text(ali)
        write_bill(ali, text)
    run = import_logs(ali, store=store, format="alipay")
    assert store.describe_run(run).set_index("table")["rows"]["orders"] > 0


def test_bill_text_is_gbk_in_the_zip(ali):
    raw = zipfile.ZipFile(ali / "trade_bill.zip").read(bill_text(ali)[0])
    with pytest.raises(UnicodeDecodeError):
        io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read()
