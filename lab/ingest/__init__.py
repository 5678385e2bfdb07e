"""Import real coupon logs into the store as runs: ``lab.ingest.import_logs``.

Every import is one transaction: the file is parsed and checked completely before
anything is written, and any error (a :class:`LogImportError` naming file, line, column
and reason) leaves the store exactly as it was. The run records the SHA-256 of the bytes
imported (``runs.source_sha256``); importing the same bytes again writes nothing and
returns the earlier run's id (to import them again, delete that run first).

Formats
-------
**Tianchi O2O** (``format="tianchi"``): the offline coupon log of the Alibaba Tianchi
"O2O coupon usage prediction" competition, a CSV with the header
``User_id,Merchant_id,Coupon_id,Discount_rate,Distance,Date_received``, one row per coupon
received. It maps onto the schema as:

- ``stocks``: one per ``Coupon_id`` (``stock_id``), with its ``merchant_id``.
  ``Discount_rate`` ``x:y`` (spend x yuan, save y) gives ``stock_type`` ``threshold``,
  ``transaction_minimum_fen = 100 x``, ``amount_fen = 100 y``; a rate such as ``0.95``
  gives ``stock_type`` ``discount``, ``discount_rate = 0.95``, ``transaction_minimum_fen = 0``.
  A coupon id must keep one ``Discount_rate`` and one merchant throughout the file.
- ``coupons``: one per row, ``coupon_id`` = the 1-based data row (the file has no
  multi-line fields, so line = ``coupon_id + 1``), ``status`` ``issued``, ``claimed_at`` =
  ``issued_at`` = the day received at 00:00, face value and minimum copied from the stock.
- ``offers`` and ``events``: one offer (``offer_id = coupon_id``, delivered, exposed and
  claimed that day) and one ``claim`` event (``event_id = coupon_id``) per row.
- ``users``: one per ``User_id``, ``primary_platform`` ``offline``; ``distance_km`` =
  0.5 x ``Distance`` (5.0 means 5 km or more), and since the file gives one distance per
  user and merchant, the user's **smallest** distance (the nearest store, as the schema
  defines it); NULL when every row says ``null``.
- Platform and entry are ``offline`` throughout; the run's ``start_date`` and ``days``
  span the dates received. There are no orders: the file describes issuance only.

**Lab** (``format="lab"``): a directory holding one file per table, named after the
table, as CSV (comma-separated, header line, ``"`` quotes; encodings as below) or Parquet:
``users``, ``stocks``, ``offers``, ``coupons``, ``events``, ``orders``, ``assignments``,
``weather``, ``engine_metrics`` (``users.csv``, ``orders.parquet``...); or a single such
file (the table is the file's stem, or ``table=``). Absent tables stay empty. Columns are
exactly those of :mod:`lab.schema` (``python -c "import lab.schema as s; print(s.markdown())"``),
in any order, except ``run_id``, which may be present (as in files written by
``python -m lab export``) and is replaced by the new run's id. In CSV files an empty field
is NULL; timestamps read ``YYYY-MM-DD HH:MM:SS`` (local time of the run's time zone,
``timezone=``, default Asia/Shanghai; one with an offset such as ``+08:00`` or ``Z`` is
converted to it, as are tz-aware Parquet timestamps), dates ``YYYY-MM-DD``, booleans
``true``/``false`` (or ``t``/``f``, ``1``/``0``, any case); money (``*_fen``) is a non-negative whole number of fen; enum-like
columns take the values the schema lists. Keys (the schema's ``key``, minus ``run_id``)
must be unique. The ``runs`` and ``truth_*`` tables are not accepted: the import writes
its own run, and truth exists only for simulated runs. Other files in the directory
(a README, say) are ignored.

**WeChat Pay** (``format="wechatpay"``), **Alipay** (``format="alipay"``) and **any CSV or
Parquet through a YAML column mapping** (``format="mapped"``, ``mapping=``): the files a
coupon team gets from the payment platforms (stocks, user coupons, ``COUPON.USE``
callbacks, encrypted with the APIv3 key or not, payment results; the GBK trade bill,
trade query results, user vouchers). ``docs/real-logs.md`` documents each field's
mapping and what each format cannot carry; :func:`export_platform` writes a run in these
formats (``python -m lab export --format wechatpay|alipay RUN DIR``).
Encodings
---------
CSV files may be UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's tab-separated
"Unicode text" too) or GB18030/GBK (detected), or any encoding named with
``encoding=``; line endings may be LF, CRLF or a mix.

Errors
------
:class:`LogImportError` (a ``ValueError``) reads ``file:line: column X: reason``. For CSV
the line is the physical line in the file with the header on line 1; for Parquet it is
the 1-based row. Checked: missing, extra or repeated columns; empty or header-only file;
undecodable bytes; rows with too few or too many fields (a truncated last line);
required values missing; wrong types; fractional or negative fen; unknown enum values;
unparseable dates or dates outside 1990-2099; non-finite numbers, negative distances,
a discount above the amount; duplicate keys; table files that cannot be read (FIFO,
dangling symlink, symlink loop); for Tianchi, malformed ``Discount_rate``, ``Distance``
outside 0-10, and a coupon id whose rate or merchant changes.

Example
-------
>>> import lab
>>> from lab.ingest import import_logs
>>> store = lab.Store(":memory:")
>>> run = import_logs("tests/data/tianchi_o2o_sample.csv", store=store)  # doctest: +SKIP
>>> run  # doctest: +SKIP
'tianchi_o2o_sample-…'
>>> import_logs("tests/data/tianchi_o2o_sample.csv", store=store) == run  # doctest: +SKIP
True
"""

from lab.ingest._errors import LogImportError
from lab.ingest._export_platforms import EXPORT_FORMATS, export_platform
from lab.ingest._import import FORMATS, import_logs

__all__ = ["EXPORT_FORMATS", "FORMATS", "LogImportError", "export_platform", "import_logs"]
