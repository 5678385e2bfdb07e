"""Every string the dashboard shows, in English and 中文.

Views never hold literal text: they call :func:`t` with a key and the session's language,
so switching the language re-renders every label, title and verdict.

Example
-------
>>> from dashboards.i18n import t
>>> t("section.funnel", "zh")
'漏斗'
>>> t("editor.lbs_km", "en", km=3)
'within 3 km'
"""

from __future__ import annotations

LANGUAGES: dict[str, str] = {"en": "English", "zh": "中文"}

STRINGS: dict[str, dict[str, str]] = {
    # -- page -------------------------------------------------------------------------
    "app.title": {"en": "Coupon strategy lab", "zh": "优惠券策略实验室"},
    "app.subtitle": {
        "en": "Compare two to four coupon strategies side by side.",
        "zh": "并排比较两到四个优惠券策略。",
    },
    "app.language": {"en": "Language", "zh": "语言"},
    "app.database": {"en": "Database", "zh": "数据库"},
    "app.writing": {
        "en": "A write is in progress ({writer}): the figures shown are the last complete "
        "state; new runs appear when the write is done.",
        "zh": "正在写入数据（{writer}）：当前显示的是上一次完整的数据；写入完成后会出现新的运行记录。",
    },
    "app.no_runs": {
        "en": "The database holds no runs yet. Build one with `make data`.",
        "zh": "数据库中还没有运行记录。请先执行 `make data` 生成数据。",
    },
    "app.pick_runs": {
        "en": "Pick at least two strategies to compare.",
        "zh": "请至少选择两个策略进行比较。",
    },
    # -- sidebar ----------------------------------------------------------------------
    "side.strategies": {"en": "Strategies (2–4)", "zh": "策略（2–4 个）"},
    "side.platform_filter": {"en": "Show platform", "zh": "显示平台"},
    "side.platform_style": {"en": "Platform style", "zh": "平台风格"},
    "side.world_size": {"en": "World size (users)", "zh": "模拟规模（用户数）"},
    "platform.all": {"en": "All", "zh": "全部"},
    "platform.wechat": {"en": "WeChat", "zh": "微信"},
    "platform.alipay": {"en": "Alipay", "zh": "支付宝"},
    "platform.meituan": {"en": "Meituan", "zh": "美团"},
    "platform.mix": {"en": "Mix", "zh": "混合"},
    "platform.offline": {"en": "Offline", "zh": "线下"},
    # -- sections ---------------------------------------------------------------------
    "section.overview": {"en": "Overview", "zh": "概览"},
    "section.funnel": {"en": "Funnel", "zh": "漏斗"},
    "section.retention": {"en": "Retention", "zh": "留存"},
    "section.cycle": {"en": "Redemption cycle", "zh": "核销周期"},
    "section.money": {"en": "Money and ROI", "zh": "金额与 ROI"},
    "section.experiments": {"en": "Experiments", "zh": "实验"},
    "section.editor": {"en": "Edit a strategy", "zh": "编辑策略"},
    "section.downloads": {"en": "Downloads", "zh": "下载"},
    # -- comparison table -------------------------------------------------------------
    "col.metric": {"en": "Metric", "zh": "指标"},
    "col.run_id": {"en": "Run", "zh": "运行"},
    "col.label": {"en": "Strategy", "zh": "策略"},
    "col.origin": {"en": "Origin", "zh": "来源"},
    "col.seed": {"en": "Seed", "zh": "随机种子"},
    "col.n_users": {"en": "Users", "zh": "用户数"},
    "col.days": {"en": "Days", "zh": "天数"},
    "col.users": {"en": "Users", "zh": "用户数"},
    "col.offers": {"en": "Offers delivered", "zh": "投放次数"},
    "col.coupons": {"en": "Claim attempts", "zh": "领取次数"},
    "col.events": {"en": "Events", "zh": "事件数"},
    "col.orders": {"en": "Orders", "zh": "订单数"},
    "col.created_at": {"en": "Written at", "zh": "写入时间"},
    "kpi.exposed_users": {"en": "Users who saw an offer", "zh": "曝光用户数"},
    "kpi.claim_conversion": {
        "en": "Claim conversion (claimers ÷ exposed users)",
        "zh": "领取转化率（领取用户 ÷ 曝光用户）",
    },
    "kpi.issued": {"en": "Coupons issued", "zh": "发放张数"},
    "kpi.redemption_conversion": {
        "en": "Redemption conversion (redeemed ÷ issued)",
        "zh": "核销转化率（核销 ÷ 发放）",
    },
    "kpi.redeemed_amount": {
        "en": "Redeemed amount (orders paid with a coupon)",
        "zh": "核销金额（用券订单金额）",
    },
    "kpi.aov": {"en": "AOV of redeemed orders", "zh": "用券订单客单价"},
    "kpi.cost": {"en": "Cost (discounts funded)", "zh": "成本（补贴金额）"},
    "kpi.roi": {
        "en": "Reported ROI = (redeemed amount − cost) ÷ cost",
        "zh": "报告 ROI =（核销金额 − 成本）÷ 成本",
    },
    "kpi.incremental_gmv": {
        "en": "Incremental GMV vs holdout [95 % CI]",
        "zh": "相对对照组的增量 GMV [95% 置信区间]",
    },
    "kpi.incremental_roi": {"en": "Incremental ROI [95 % CI]", "zh": "增量 ROI [95% 置信区间]"},
    "kpi.incremental_p": {"en": "p-value of the GMV difference", "zh": "GMV 差异的 p 值"},
    "kpi.fraud_flagged": {
        "en": "Fraud share: coupons to accounts the risk model blocks",
        "zh": "欺诈占比：风控模型拦截账户所得优惠券",
    },
    "kpi.fraud_true": {
        "en": "Fraud share: coupons to ring accounts (simulated truth)",
        "zh": "欺诈占比：羊毛党账户所得优惠券（模拟真值）",
    },
    "kpi.retention_d1": {"en": "Claimers ordering on day 1", "zh": "领券后第 1 天下单比例"},
    "kpi.retention_d7": {"en": "Claimers ordering on day 7", "zh": "领券后第 7 天下单比例"},
    "kpi.mean_cycle": {"en": "Mean days from issue to redemption", "zh": "发放到核销的平均天数"},
    "kpi.median_cycle": {
        "en": "Median days to redemption (Kaplan-Meier)",
        "zh": "核销天数中位数（Kaplan-Meier）",
    },
    "overview.note": {
        "en": "Every simulated strategy keeps a randomised 10 % holdout that gets no "
        "coupon; incremental figures compare with it. Reported ROI credits every order a "
        "coupon touched, including orders that would have happened anyway, so it is "
        "higher than the incremental ROI. Hover a metric for its definition.",
        "zh": "每个模拟策略都保留 10% 的随机对照组（不发任何券），增量指标与之比较。报表 ROI 把所有用券订单都算作券的功劳（包括本来就会发生的订单），因此高于增量 ROI。鼠标悬停在指标上可查看定义。",
    },
    "overview.note_platform": {
        "en": "Figures for the chosen platform only. The holdout and the fraud shares "
        "are measured for whole runs: choose All to see them.",
        "zh": "仅显示所选平台的数据。对照组与欺诈占比按整个运行计算：选择“全部”可查看。",
    },
    "origin.synthetic": {"en": "simulated", "zh": "模拟"},
    "origin.import": {"en": "imported", "zh": "导入"},
    "origin.edited": {"en": "edited (scratch)", "zh": "编辑（临时）"},
    # -- events (funnel steps) ---------------------------------------------------------
    "event.delivery": {"en": "Delivered", "zh": "送达"},
    "event.exposure": {"en": "Seen", "zh": "曝光"},
    "event.rule_view": {"en": "Rules opened", "zh": "查看规则"},
    "event.share": {"en": "Shared", "zh": "分享"},
    "event.claim": {"en": "Claimed", "zh": "领取"},
    "event.redeem": {"en": "Redeemed", "zh": "核销"},
    "event.expire": {"en": "Expired", "zh": "过期"},
    # -- funnel -----------------------------------------------------------------------
    "funnel.title": {
        "en": "Funnel: share of delivered offers reaching each step",
        "zh": "漏斗：各环节占送达优惠的比例",
    },
    "funnel.share_of_delivered": {"en": "share of delivered offers", "zh": "占送达优惠比例"},
    "funnel.note": {
        "en": "Each offer counts once; a step must follow the previous one within 7 days "
        "(`lab.funnel.funnel`, ordered mode).",
        "zh": "每条优惠只计一次；每一步须在前一步之后 7 天内发生（`lab.funnel.funnel`，有序模式）。",
    },
    # -- retention --------------------------------------------------------------------
    "retention.title": {
        "en": "Retention of claimers: share ordering on day k after the claim",
        "zh": "领券用户留存：领取后第 k 天下单的比例",
    },
    "retention.day": {"en": "days after the claim", "zh": "领取后天数"},
    "retention.rate": {"en": "share of claimers ordering", "zh": "下单用户占比"},
    "retention.day_k": {"en": "Ordered on day {k}", "zh": "第 {k} 天下单"},
    "retention.note": {
        "en": "Cohorts by each user's first claim; a return is any order on that exact "
        "calendar day. Only fully observed cohorts are averaged (`lab.retention.retention`).",
        "zh": "按用户首次领取分组；回访指当天的任意订单。只平均完整观察到的群组（`lab.retention.retention`）。",
    },
    # -- redemption cycle -------------------------------------------------------------
    "cycle.title": {
        "en": "Redemption cycle: share of issued coupons redeemed by day",
        "zh": "核销周期：已发放优惠券按天累计核销比例",
    },
    "cycle.days": {"en": "days since issue", "zh": "发放后天数"},
    "cycle.share": {"en": "share redeemed", "zh": "累计核销比例"},
    "cycle.coupons": {"en": "Coupons issued", "zh": "发放张数"},
    "cycle.share_by_expiry": {"en": "Redeemed of settled coupons", "zh": "已结束优惠券核销率"},
    "cycle.mean_days": {"en": "Mean days to redeem", "zh": "平均核销天数"},
    "cycle.median_days": {
        "en": "Median days to redeem (Kaplan-Meier)",
        "zh": "核销天数中位数（Kaplan-Meier）",
    },
    "cycle.note": {
        "en": "Kaplan-Meier estimate with 95 % band; unredeemed coupons are censored at "
        "expiry or at the end of the data (`lab.cycle.redemption_cycle`).",
        "zh": "Kaplan-Meier 估计及 95% 置信带；未核销的优惠券在过期或数据结束时删失（`lab.cycle.redemption_cycle`）。",
    },
    # -- money ------------------------------------------------------------------------
    "money.roi_title": {
        "en": "ROI: reported ◆, incremental ● with its 95 % interval",
        "zh": "ROI：报告 ◆，增量 ●（含 95% 置信区间）",
    },
    "money.roi_title_reported": {
        "en": "Reported ROI ◆ (incremental ROI: whole runs on all platforms only)",
        "zh": "报告 ROI ◆（增量 ROI 仅针对全部平台的整体）",
    },
    "money.money_title": {"en": "Redeemed amount and cost", "zh": "核销金额与成本"},
    "money.amount": {"en": "redeemed amount", "zh": "核销金额"},
    "money.cost": {"en": "cost", "zh": "成本"},
    "money.yuan": {"en": "yuan", "zh": "元"},
    # -- experiments ------------------------------------------------------------------
    "exp.pick": {"en": "Experiment (strategy · experiment)", "zh": "实验（策略 · 实验）"},
    "exp.none": {"en": "The selected strategies hold no experiment.", "zh": "所选策略中没有实验。"},
    "exp.srm_ok": {
        "en": "Arm sizes match the plan (sample-ratio check, {p}). Users per arm: {observed}.",
        "zh": "各组人数符合计划（样本比例检验，{p}）。各组用户数：{observed}。",
    },
    "exp.srm_bad": {
        "en": "Sample-ratio mismatch: arms got {observed} users where the plan expects "
        "{expected} ({p}). Assignment may be broken; do not trust the comparison below.",
        "zh": "样本比例失衡：各组实际用户数为 {observed}，计划应为 {expected}（{p}）。分组可能有问题，下面的比较不可信。",
    },
    "exp.title": {
        "en": "{experiment}: relative effect vs {control} (95 % CI)",
        "zh": "{experiment}：相对 {control} 的效应（95% 置信区间）",
    },
    "exp.metric": {"en": "Metric", "zh": "指标"},
    "exp.arm": {"en": "Arm", "zh": "实验组"},
    "exp.n": {"en": "Users (control / arm)", "zh": "用户数（对照 / 实验）"},
    "exp.effect": {"en": "relative effect", "zh": "相对效应"},
    "exp.ci": {"en": "95 % CI", "zh": "95% 置信区间"},
    "exp.p": {"en": "p-value", "zh": "p 值"},
    "exp.p_holm": {"en": "p-value (Holm)", "zh": "p 值（Holm 校正）"},
    "exp.note": {
        "en": "Per user assigned to the experiment, over the campaign period; Welch t-test "
        "(z-test for proportions), relative difference, 95 % intervals; Holm adjusts for "
        "the several metrics (`lab.experiments.analyze`).",
        "zh": "按分配到实验的每位用户、在活动期内计算；Welch t 检验（比例用 z 检验），相对差异，95% 置信区间；Holm 方法校正多指标（`lab.experiments.analyze`）。",
    },
    "metric.redeemed": {"en": "Redemption rate", "zh": "核销率"},
    "metric.orders": {"en": "Orders per user", "zh": "人均订单数"},
    "metric.gmv": {"en": "GMV per user", "zh": "人均 GMV"},
    "metric.redeemed_amount": {"en": "Redeemed amount per user", "zh": "人均核销金额"},
    "metric.aov": {"en": "AOV of redeemed orders", "zh": "用券订单客单价"},
    "verdict.up": {
        "en": "**{metric}**: {arm} is {effect} higher than {control} ({level} CI {low} to "
        "{high}); significant at {alpha} ({p}).",
        "zh": "**{metric}**：{arm} 比 {control} 高 {effect}（{level} 置信区间 {low} 至 {high}）；在 {alpha} 水平上显著（{p}）。",
    },
    "verdict.down": {
        "en": "**{metric}**: {arm} is {effect} lower than {control} ({level} CI {low} to "
        "{high}); significant at {alpha} ({p}).",
        "zh": "**{metric}**：{arm} 比 {control} 低 {effect}（{level} 置信区间 {low} 至 {high}）；在 {alpha} 水平上显著（{p}）。",
    },
    "verdict.flat": {
        "en": "**{metric}**: no significant difference between {arm} and {control} ({level} "
        "CI {low} to {high}, {p}).",
        "zh": "**{metric}**：{arm} 与 {control} 无显著差异（{level} 置信区间 {low} 至 {high}，{p}）。",
    },
    "verdict.none": {
        "en": "**{metric}**: cannot be compared (the control has no such outcome).",
        "zh": "**{metric}**：无法比较（对照组没有该结果）。",
    },
    # -- editor -----------------------------------------------------------------------
    "editor.help": {
        "en": "Start from a platform style, change what you like and press **Simulate**. "
        "The strategy is simulated into a scratch world (same seed, days and start as the "
        "first selected run, with a 10 % holdout) and added to the comparison; the "
        "database on disk is never written.",
        "zh": "从一种平台风格出发，修改所需设置后点击**模拟**。策略会在临时世界中模拟（与第一个所选运行相同的随机种子、天数和开始日期，并含 10% 对照组），"
        "然后加入比较；磁盘上的数据库不会被写入。",
    },
    "editor.entries": {"en": "Channels and entry points", "zh": "渠道与入口"},
    "editor.ladder": {
        "en": "Denomination ladder (yuan, threshold:amount; empty keeps each entry's coupon)",
        "zh": "面额阶梯（元，门槛:减额；留空则沿用各入口原券）",
    },
    "editor.segments": {"en": "Target segments (empty: everyone)", "zh": "目标人群（留空：全部）"},
    "editor.lbs": {"en": "LBS radius", "zh": "LBS 半径"},
    "editor.lbs_none": {"en": "no radius", "zh": "不限距离"},
    "editor.lbs_km": {"en": "within {km} km", "zh": "{km} 公里内"},
    "editor.credit": {"en": "Credit tiers (empty: all)", "zh": "信用等级（留空：全部）"},
    "editor.credit_tier": {"en": "tier {tier}", "zh": "{tier} 级"},
    "editor.mechanic": {"en": "Mechanic", "zh": "玩法"},
    "editor.keep": {"en": "keep each entry's", "zh": "沿用各入口原玩法"},
    "editor.risk": {"en": "Risk control", "zh": "风控等级"},
    "editor.budget": {"en": "Total budget, yuan (0: unlimited)", "zh": "总预算（元，0 表示不限）"},
    "editor.simulate": {"en": "Simulate", "zh": "模拟"},
    "editor.running": {"en": "Simulating {users} users…", "zh": "正在模拟 {users} 名用户……"},
    "editor.done": {"en": "Added **{run}** to the comparison.", "zh": "已将 **{run}** 加入比较。"},
    "editor.invalid": {
        "en": "Please check the strategy: {reason}",
        "zh": "请检查策略设置：{reason}",
    },
    "editor.failed": {
        "en": "The simulation did not finish: {reason}",
        "zh": "模拟未完成：{reason}",
    },
    "editor.no_entries": {"en": "pick at least one channel", "zh": "请至少选择一个渠道"},
    "entry.official_account": {"en": "official-account push", "zh": "公众号推送"},
    "entry.mini_program": {"en": "mini-program pop-up", "zh": "小程序弹窗"},
    "entry.pay_page": {"en": "payment-success page", "zh": "支付成功页"},
    "entry.card_wallet": {"en": "card wallet", "zh": "卡包"},
    "entry.wallet_home": {"en": "wallet home", "zh": "钱包首页"},
    "entry.app_push": {"en": "app push", "zh": "App 推送"},
    "entry.store_page": {"en": "store page", "zh": "门店页"},
    "entry.offline": {"en": "offline", "zh": "线下"},
    "segment.new": {"en": "new", "zh": "新客"},
    "segment.active": {"en": "active", "zh": "活跃"},
    "segment.lapsed": {"en": "lapsed", "zh": "流失"},
    "mechanic.plain": {"en": "plain", "zh": "普通"},
    "mechanic.share_to_unlock": {"en": "share to unlock", "zh": "分享解锁"},
    "mechanic.game_task": {"en": "game task", "zh": "游戏任务"},
    "mechanic.blind_box": {"en": "blind box", "zh": "盲盒"},
    "mechanic.tiered_reward": {"en": "tiered reward", "zh": "阶梯奖励"},
    "mechanic.expiry_reminder": {"en": "expiry reminder", "zh": "到期提醒"},
    "risk.off": {"en": "off", "zh": "关闭"},
    "risk.basic": {"en": "basic", "zh": "基础"},
    "risk.strict": {"en": "strict (real name + face)", "zh": "严格（实名 + 人脸）"},
    # -- downloads --------------------------------------------------------------------
    "dl.csv": {"en": "Table (CSV)", "zh": "表格（CSV）"},
    "dl.png": {"en": "Figure (PNG)", "zh": "图表（PNG）"},
    "dl.html": {"en": "Figure (HTML)", "zh": "图表（HTML）"},
    "dl.figure": {"en": "Figure to download", "zh": "要下载的图表"},
    "dl.help": {
        "en": "The decision memo is one printable page: the verdict, the key figures, the "
        "charts and a method note, in the chosen language. Any table downloads as CSV "
        "(metric names from the lab's dictionary, money in yuan); any chart as PNG or "
        "interactive HTML.",
        "zh": "决策备忘录为一页可打印的文档：结论、关键指标、图表和方法说明，使用当前语言。任意表格可下载为 CSV（指标名称来自实验室的指标字典，金额单位为元）；任意图表可下载为 PNG 或交互式 HTML。",
    },
    "dl.no_figure": {
        "en": "No figure is available for the current selection.",
        "zh": "当前选择没有可下载的图表。",
    },
    # -- the decision (overview, experiments, editor, downloads) ---------------------
    "overview.best": {"en": "best", "zh": "最佳"},
    "overview.goal": {"en": "Goal metric", "zh": "目标指标"},
    "overview.baseline": {"en": "Compare the best with", "zh": "最佳策略对比"},
    "overview.runner_up": {"en": "the runner-up", "zh": "第二名"},
    "overview.chart": {
        "en": "{goal} per strategy (95 % interval)",
        "zh": "各策略的{goal}（95% 区间）",
    },
    "overview.dropped": {
        "en": "At most four strategies are compared: {run} made room for the new one.",
        "zh": "最多比较四个策略：已移除 {run} 以加入新策略。",
    },
    "missing.no_holdout": {
        "en": "not measurable: this run has no randomised holdout (an imported log)",
        "zh": "无法测量：该运行没有随机对照组（导入的日志）",
    },
    "missing.no_cost": {
        "en": "not measurable: no coupon was redeemed, so there is no cost",
        "zh": "无法测量：没有券被核销，成本为零",
    },
    "missing.platform_filter": {
        "en": "measured for whole runs only: choose All platforms",
        "zh": "仅按整个运行测量：请选择“全部”平台",
    },
    "exp.cuped": {"en": "CUPED (adjust for pre-period GMV)", "zh": "CUPED（按活动前 GMV 调整）"},
    "exp.yes": {"en": "yes", "zh": "是"},
    "exp.no": {"en": "no", "zh": "否"},
    "exp.goal": {
        "en": "Goal: GMV per user, relative change [95 % CI]",
        "zh": "目标：人均 GMV 相对变化 [95% 置信区间]",
    },
    "exp.cuped_row": {"en": "CUPED applied", "zh": "已使用 CUPED"},
    "exp.sequential": {
        "en": "Sequential status (always-valid interval)",
        "zh": "序贯检验状态（随时有效区间）",
    },
    "exp.can_stop": {"en": "may be stopped now", "zh": "现在可以停止"},
    "exp.keep_going": {"en": "not conclusive yet", "zh": "尚无定论"},
    "exp.mde": {
        "en": "Minimum detectable effect (80 % power)",
        "zh": "最小可检测效应（80% 功效）",
    },
    "exp.srm_row": {
        "en": "Arm sizes match the plan (SRM check)",
        "zh": "各组人数符合计划（SRM 检验）",
    },
    "exp.guard.cost": {"en": "Guardrail: cost", "zh": "护栏：成本"},
    "exp.guard.aov": {"en": "Guardrail: AOV", "zh": "护栏：客单价"},
    "exp.guard.fraud_share": {"en": "Guardrail: fraud share", "zh": "护栏：羊毛党占比"},
    "exp.breached": {"en": "breached", "zh": "超出"},
    "exp.within": {"en": "within limits", "zh": "在范围内"},
    "exp.cost_detail": {
        "en": "cost per user {arm} vs {control}",
        "zh": "人均成本 {arm}，对照 {control}",
    },
    "exp.fraud_detail": {
        "en": "fraud share of coupons {arm}, limit {limit}",
        "zh": "羊毛党领券占比 {arm}，上限 {limit}",
    },
    "overview.max_fraud": {"en": "Max fraud share (%)", "zh": "羊毛党占比上限（%）"},
    "overview.max_cost": {"en": "Max cost per user (¥)", "zh": "人均券成本上限（元）"},
    "exp.guard_na.control_has_no_coupons": {
        "en": "not applicable: the holdout redeems no coupons",
        "zh": "不适用：对照组没有核销任何券",
    },
    "editor.size_same": {"en": "as compared ({users})", "zh": "与比较策略相同（{users}）"},
    "editor.per_user": {
        "en": "It has a different size from the compared strategies: compare the per-user figures.",
        "zh": "其规模与比较中的策略不同：请比较人均指标。",
    },
    "dl.memo": {"en": "Decision memo (HTML, printable)", "zh": "决策备忘录（HTML，可打印）"},
    "dl.table": {"en": "Table to download", "zh": "要下载的表格"},
    "section.decision": {"en": "Decision (per strategy)", "zh": "决策（各策略）"},
    "memo.title": {"en": "Coupon strategy decision", "zh": "优惠券策略决策"},
    "memo.meta": {
        "en": "Written {date} by the coupon strategy lab. Strategies: {strategies}.",
        "zh": "由优惠券策略实验室于 {date} 生成。策略：{strategies}。",
    },
    "memo.verdict": {"en": "Verdict", "zh": "结论"},
    "memo.cards": {"en": "Key figures", "zh": "关键指标"},
    "memo.charts": {"en": "Charts", "zh": "图表"},
    "memo.details": {"en": "All figures", "zh": "全部指标"},
    "memo.method": {"en": "Method", "zh": "方法"},
    "memo.method_text": {
        "en": "Each strategy was simulated with a randomised 10 % holdout that received no "
        "coupon. Incremental GMV and orders are the difference between users offered "
        "coupons and holdout users, per user, times the users offered coupons, with Welch "
        "95 % intervals. Two strategies are compared by the difference of their per-user "
        "figures; the interval treats the runs as independent, which is conservative "
        "when they share users. Reported ROI credits every order a coupon touched and is "
        "shown for reference only.",
        "zh": "每个策略在模拟时保留 10% 的随机对照组，不发任何券。增量 GMV 和增量订单为发券组与对照组的人均差值乘以发券组人数，附 Welch 95% 区间。两个策略按人均指标之差比较；区间把两次运行视为独立，在共享用户时偏保守。报表 ROI 把所有用券订单算作券的功劳，仅供参考。",
    },
    # -- names of runs and arms (dashboards.names) ------------------------------------
    "preset.default": {"en": "Default mix", "zh": "默认组合"},
    "preset.pay_vs_wallet": {"en": "Pay page vs wallet", "zh": "支付页对比钱包"},
    "preset.lbs_3km": {"en": "Within 3 km", "zh": "3 公里内"},
    "preset.share_to_unlock": {"en": "Share to unlock", "zh": "分享解锁"},
    "preset.risk_off": {"en": "Risk control off", "zh": "风控关闭"},
    "preset.risk_basic": {"en": "Basic risk control", "zh": "基础风控"},
    "preset.risk_strict": {"en": "Strict risk control", "zh": "严格风控"},
    "preset.denomination_split": {"en": "Denomination test", "zh": "面额测试"},
    "preset.morning_doubled": {"en": "Morning double", "zh": "早间加倍"},
    "preset.rainy_delivery": {"en": "Rainy-day delivery", "zh": "雨天外卖"},
    "preset.platform_wechat": {"en": "WeChat style", "zh": "微信风格"},
    "preset.platform_alipay": {"en": "Alipay style", "zh": "支付宝风格"},
    "preset.platform_meituan": {"en": "Meituan style", "zh": "美团风格"},
    "preset.platform_mix": {"en": "Mixed platforms", "zh": "多平台混合"},
    "preset.credit_tier": {"en": "By credit tier", "zh": "按信用等级"},
    "preset.aa_test": {"en": "A/A test", "zh": "A/A 测试"},
    "name.edited": {"en": "Edited {style} style, {users}", "zh": "编辑的{style}风格，{users}"},
    "name.users_k": {"en": "{k}k users", "zh": "{k}k 用户"},
    "name.seed": {"en": "seed {seed}", "zh": "种子 {seed}"},
    "arm.treatment": {"en": "treatment", "zh": "实验组"},
    "arm.holdout": {"en": "holdout (no coupons)", "zh": "对照组（不发券）"},
    "arm.control": {"en": "control", "zh": "对照组"},
    # the synthetic world's other arms (lab/world/_presets.py): what each arm does
    "arm.pay_page": {"en": "payment-success page", "zh": "支付成功页"},
    "arm.card_wallet": {"en": "card wallet", "zh": "卡包"},
    "arm.untargeted": {"en": "untargeted", "zh": "不定向"},
    "arm.lbs_3km": {"en": "within 3 km", "zh": "3 公里内"},
    "arm.plain": {"en": "plain coupon", "zh": "普通券"},
    "arm.share_to_unlock": {"en": "share to unlock", "zh": "分享解锁"},
    "arm.single": {"en": "single coupon", "zh": "单张券"},
    "arm.split": {"en": "split coupons", "zh": "拆分券"},
    "arm.rain_delivery": {"en": "rain delivery", "zh": "雨天配送"},
    "arm.uniform": {"en": "uniform amount", "zh": "统一面额"},
    "arm.tiered": {"en": "tiered by credit", "zh": "按信用分级"},
    "arm.a": {"en": "A", "zh": "A 组"},
    "arm.b": {"en": "B", "zh": "B 组"},
    "experiment.holdout": {"en": "holdout", "zh": "不发券对照"},
    "experiment.entry": {"en": "entry", "zh": "入口"},
    "experiment.lbs": {"en": "LBS radius", "zh": "LBS 半径"},
    "experiment.share": {"en": "share to unlock", "zh": "分享解锁"},
    "experiment.denomination": {"en": "denomination", "zh": "面额拆分"},
    "experiment.morning": {"en": "morning push", "zh": "早间推送"},
    "experiment.rain": {"en": "rain", "zh": "雨天"},
    "experiment.credit": {"en": "credit tiers", "zh": "信用分级"},
    "experiment.aa": {"en": "A/A", "zh": "A/A"},
    # -- slicing (date range and breakdown) -------------------------------------------
    "slice.dates": {"en": "Dates", "zh": "日期范围"},
    "slice.breakdown": {"en": "Break down by", "zh": "细分维度"},
    "slice.none": {"en": "nothing", "zh": "不细分"},
    "slice.platform": {"en": "platform", "zh": "平台"},
    "slice.entry": {"en": "entry point", "zh": "入口"},
    "slice.segment": {"en": "user segment", "zh": "用户分群"},
    "slice.city_tier": {"en": "city tier", "zh": "城市等级"},
    "slice.note": {
        "en": "Showing {start} to {end}{by}.",
        "zh": "显示 {start} 至 {end}{by}。",
    },
    "slice.note_by": {"en": ", broken down by {by}", "zh": "，按{by}细分"},
    "city_tier.1": {"en": "tier 1 city", "zh": "一线城市"},
    "city_tier.2": {"en": "tier 2 city", "zh": "二线城市"},
    "city_tier.3": {"en": "tier 3 city", "zh": "三线城市"},
    "city_tier.4": {"en": "tier 4+ city", "zh": "四线及以下城市"},
    # -- chart craft ------------------------------------------------------------------
    "funnel.step_of_previous": {"en": "{pct} of previous", "zh": "上一步的 {pct}"},
    "funnel.axis": {"en": "share of delivered offers (%)", "zh": "占送达优惠比例（%）"},
    "funnel.step": {"en": "funnel step", "zh": "漏斗环节"},
    "funnel.by_title": {
        "en": "Delivered offers redeemed, by {by}",
        "zh": "送达优惠的核销比例（按{by}）",
    },
    "funnel.redeemed_axis": {"en": "redeemed of delivered (%)", "zh": "核销占送达（%）"},
    "retention.axis": {"en": "share of claimers ordering (%)", "zh": "下单用户占比（%）"},
    "retention.days_axis": {"en": "days after the claim", "zh": "领取后天数"},
    "retention.cohorts_title": {
        "en": "Cohort grid: {strategy}",
        "zh": "群组网格：{strategy}",
    },
    "retention.cohort": {"en": "claim date (cohort)", "zh": "领取日期（群组）"},
    "retention.chart_title": {
        "en": "Claimers ordering k days after the claim",
        "zh": "领券后第 k 天下单的比例",
    },
    "retention.cohort_of": {"en": "Cohort grid of", "zh": "群组网格策略"},
    "cycle.axis": {"en": "share of issued coupons redeemed (%)", "zh": "已发放优惠券核销比例（%）"},
    "cycle.days_axis": {"en": "days since issue", "zh": "发放后天数"},
    "money.roi_axis": {"en": "ROI (yuan earned per yuan of cost)", "zh": "ROI（每元成本的收益）"},
    "money.break_even": {"en": "break-even", "zh": "盈亏平衡"},
    "money.amount_title": {"en": "Redeemed amount (¥)", "zh": "核销金额（¥）"},
    "money.cost_title": {"en": "Cost (¥)", "zh": "成本（¥）"},
    "money.yuan_axis": {"en": "yuan (¥)", "zh": "金额（¥）"},
    "money.strategy": {"en": "strategy", "zh": "策略"},
    "trend.title": {"en": "Daily trend", "zh": "每日趋势"},
    "trend.claims": {"en": "Claims per day", "zh": "每日领取"},
    "trend.redemptions": {"en": "Redemptions per day", "zh": "每日核销"},
    "trend.cost": {"en": "Cost per day (¥)", "zh": "每日成本（¥）"},
    "trend.count_axis": {"en": "coupons", "zh": "张数"},
    "trend.date": {"en": "date", "zh": "日期"},
}


def t(key: str, lang: str, **values: object) -> str:
    """Return the text of ``key`` in ``lang``, with ``{name}`` fields filled from ``values``.

    Parameters
    ----------
    key : str
        A key of :data:`STRINGS`.
    lang : {"en", "zh"}
        Interface language.
    **values
        Values for the ``{name}`` fields of the text.

    Example
    -------
    >>> t("app.title", "en")
    'Coupon strategy lab'
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {tuple(LANGUAGES)}, got {lang!r}")
    try:
        text = STRINGS[key][lang]
    except KeyError:
        raise KeyError(f"no text for key {key!r}") from None
    return text.format(**values) if values else text


def label(prefix: str, value: object, lang: str) -> str:
    """Translate an enum-like ``value`` under ``prefix`` (e.g. ``platform``); unknown values pass through."""
    key = f"{prefix}.{value}"
    return t(key, lang) if key in STRINGS else str(value)
