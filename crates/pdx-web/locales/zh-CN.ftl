# PDX 门户的简体中文文本。这里的每条消息在 en.ftl 中都有对应（有测试检查）。

## 页面框架
skip-to-content = 跳到正文
nav-label = 主导航
nav-home = 首页
nav-datasets = 数据目录
nav-organizations = 提供单位
nav-reports = 年度报告
nav-api = 开发接口
language-switch = 语言
crumbs-label = 当前位置
footer-about = 本平台发布本市公共数据。每一次下载和数据请求都记入防篡改的流通账本，任何人都可以验证。
footer-about-link = 关于平台
footer-api-docs = 接口文档
footer-dcat = DCAT 数据目录
footer-ckan = CKAN 接口
footer-ledger-key = 账本公钥
footer-checkpoint = 最新账本检查点
footer-accessibility = 无障碍说明

## 首页
home-title = 查找和使用本市公共数据
home-lead = 检索本市各部门发布的数据集。开放数据可直接下载；有条件开放的数据可说明用途后申请使用。
home-total = 已发布数据集：
home-themes = 按主题浏览
home-newest = 最近更新
home-all-newest = 查看全部数据集（按更新时间排序）
home-most-used = 近 30 天使用最多
home-most-used-none = 近 30 天暂无下载。
home-requests = { COUNT($count) } 次请求
home-how-title = 如何获取数据
home-how-open = 开放数据：无需注册，直接下载。
home-how-conditional = 有条件开放的数据：使用单位账号登录，说明用途并提交申请，由数据提供部门审核。
home-how-ledger = 每一次下载和每一项审核决定都记入流通账本，公共数据的使用情况可供审计。

## 检索
search-label = 检索数据集
search-placeholder = 例如：公交站点、air quality
search-button = 检索
search-hint = 可用中文或英文检索；用引号检索完整短语。
search-title = 全部数据集
search-title-for = 与“{ $query }”相关的数据集
search-count = { COUNT($count) } 个数据集
search-none-title = 没有找到符合条件的数据集
search-none-words = 请检查用词，或换用更少、更宽泛的关键词。
search-none-filters = 去掉左侧的部分筛选条件。
search-none-languages = 试试用另一种语言检索同一主题。
search-clear = 重新检索
facets-label = 筛选结果
facet-theme = 主题
facet-publisher = 提供单位
facet-format = 格式
facet-opening = 开放属性
facet-sharing = 共享属性
facet-grade = 数据分级
facet-licence = 许可协议
facet-remove = （取消此筛选）
sort-label = 排序
sort-relevance = 相关度
sort-modified = 最近更新
sort-title = 标题
pager-label = 结果分页
pager-previous = 上一页
pager-next = 下一页
card-updated = 更新于
card-formats = 格式

## 分类分级
class-opening = 开放属性
class-sharing = 共享属性
class-grade = 数据分级
class-rules-link = 数据如何分类分级
opening-open = 无条件开放
opening-open-about = 任何人无需注册即可下载，下载记录以匿名方式记入账本。
opening-conditional = 有条件开放
opening-conditional-about = 企业和其他组织可说明用途后申请，由数据提供部门逐项审核并约定使用条件。
opening-closed = 不予开放
opening-closed-about = 该数据不向社会开放，公布其目录是为了让公众了解数据资源情况。
sharing-unconditional = 无条件共享
sharing-unconditional-about = 政务部门提出申请即可获得，无需审核。
sharing-conditional = 有条件共享
sharing-conditional-about = 政务部门可提出申请，由数据提供部门审核。
sharing-none = 不予共享
sharing-none-about = 不向其他政务部门共享。
grade-general = 一般数据
grade-general-about = 泄露或滥用造成的危害有限的数据。
grade-important = 重要数据
grade-important-about = 一旦泄露或滥用可能危害公共利益的数据，不作为开放数据发布。
grade-core = 核心数据
grade-core-about = 关系国家安全和经济命脉的数据，不向社会开放，仅在严格条件下共享。

## 数据集
dataset-published-by = 提供单位：
dataset-keywords = 关键词
dataset-files = 数据文件和服务
dataset-no-files = 该数据集尚未发布文件。
dataset-classes = 谁可以获取此数据
dataset-metadata = 数据集信息
dataset-withdrawn = 已撤回。
dataset-withdrawn-detail = 提供单位已撤回该数据集：保留其目录信息以供查阅，但已不再提供数据。
file-withdrawn = 已停止提供
dataset-machines = 供开发者和采集程序使用
get-title = 我能获取这份数据吗？
get-open = 可以，现在就能下载。
get-open-detail = 这是开放数据，无需注册账号。
get-open-ledger = 每次下载都会记入公开账本，不记录个人信息。
get-download = 下载
get-conditional = 可以，需提出申请。
get-conditional-detail = 请用所在单位的账号登录并提交使用申请，说明数据用途。数据提供部门审核后约定使用条件。
get-sign-in = 登录后申请使用
get-agencies-only = 仅限政务部门获取。
get-agencies-only-detail = 该数据不向社会开放，政务部门可通过部门间共享获取。
get-closed = 暂不提供。
get-closed-detail = 该数据既不向社会开放，也不在部门间共享。公布其目录是为了让公众了解数据资源情况。
file-name = 名称
file-format = 格式
file-size = 大小
file-updated = 更新时间
file-action = 获取方式
file-download = 下载
file-open-api = 访问接口
file-on-request = 需申请
meta-resource-code = 资源代码
meta-publisher = 提供单位
meta-frequency = 更新频率
meta-themes = 主题
meta-spatial = 空间范围
meta-temporal = 时间范围
meta-contact = 联系方式
meta-licence = 许可协议
meta-licence-agreement = 每次授权时约定使用条件
meta-version = 版本
meta-first-published = 首次发布
meta-modified = 最近更新
frequency-continuous = 实时更新
frequency-hourly = 每小时更新
frequency-daily = 每日更新
frequency-weekly = 每周更新
frequency-monthly = 每月更新
frequency-quarterly = 每季度更新
frequency-annual = 每年更新
frequency-irregular = 不定期更新
frequency-unknown = 更新频率未说明

## 账号
account-sign-in = 登录
account-workspace = 我的工作台
account-sign-out = 退出
account-acting-for = 当前代表
account-switch = 切换
sign-in-title = 登录
sign-in-email = 电子邮箱
sign-in-password = 密码
sign-in-button = 登录
sign-in-missing = 请填写电子邮箱和密码。
sign-in-invalid = 电子邮箱或密码不正确。
sign-in-throttled = 尝试次数过多，请几分钟后再试。
sign-in-unconfirmed = 请先确认电子邮箱：点击我们发送给您的邮件中的链接。
sign-in-no-organisation = 您的账号尚未加入任何单位，请联系本单位管理员将您添加为成员。
form-error-summary = 出现以下问题
form-expired-title = 表单已失效
form-expired-body = 为保障安全，表单只能在显示它的页面、在有限时间内提交。本次未做任何更改。
form-expired-back = 返回重试

## 工作台
workspace-tasks = 我的任务
workspace-overview = 概览
workspace-enterprise-title = 本单位的数据使用
workspace-agency-title = 本部门的数据集
workspace-audit-title = 审计
workspace-grants = { COUNT($count) } 项使用授权
workspace-no-grants = 本单位尚无使用授权。可以查找数据集并申请使用。
workspace-requests = 使用申请（{ COUNT($count) } 项待审核）
workspace-no-requests = 本单位尚未申请使用任何数据。
workspace-queue = 待审核（{ COUNT($count) }）
workspace-queue-empty = 没有待审核的申请。
workspace-datasets = { COUNT($count) } 个数据集
grant-active = 有效
grant-expired = 已到期
grant-suspended = 已暂停
grant-revoked = 已撤销
grant-valid = 有效期
grant-requests = 请求次数
grant-bytes = 已获取数据量
grant-no-limit = 不限
request-dataset = 数据集
request-purpose = 用途
request-submitted = 提交日期
request-state = 状态
request-submitted-state = 待审核
request-approved = 已批准
request-rejected = 未批准
request-withdrawn = 已撤回
purpose-research = 科学研究
purpose-public-service = 公共服务
purpose-product-development = 产品开发
purpose-education = 教育
purpose-journalism = 新闻报道
purpose-statistics = 统计分析
status-draft = 草稿
status-in-review = 审核中
status-published = 已发布
status-withdrawn = 已撤回
audit-ledger = 流通账本
audit-verified = 已验证：最新检查点已签名，且与上一个检查点一致
audit-problems = 发现问题
audit-size = 条目数
audit-latest = 最新签名检查点覆盖的条目数
audit-checked = 检查时间

## 提供单位
orgs-title = 提供单位
orgs-lead = 在本平台发布数据的政务部门。
org-kind-agency = 政务部门
org-kind-enterprise = 企业
org-kind-platform = 平台运营方
org-datasets = 已发布 { COUNT($count) } 个数据集
org-no-datasets = 该单位尚未发布数据集。
org-all-datasets = 查看该单位的全部数据集
org-reports = 年度报告
org-no-reports = 尚未公开年度报告。

## 年度报告
reports-title = 年度报告
reports-lead = 各部门每年报告开放和共享了哪些数据、如何处理使用申请以及数据的使用量。以下是已公开的报告。
reports-none = 目前还没有部门公开年度报告。
reports-agency = 部门
reports-year = 年度
reports-formats = 下载
report-year = { $year } 年度报告

## 关于
about-title = 关于平台
about-lead = 公共数据交换平台（PDX）是本市各部门发布数据的地方，其他部门、企业和市民可以在这里通过开放、部门间共享或授权使用的方式获取数据；每一次请求都记入可供审计核验的账本。
about-ways = 获取数据的三种方式
about-classes = 数据如何分类分级
about-classes-lead = 每个数据集都带有三项标识，由数据提供部门依照国家公共数据管理规定设定，共同决定谁可以获取这份数据。
about-grade-rule = 以更严格的标识为准：核心数据一律不向社会开放，重要数据不作为开放数据发布。

## 无障碍
a11y-title = 无障碍说明
a11y-lead = 我们希望每个人都能使用本门户。本门户以符合《Web 内容无障碍指南》（WCAG）2.1 AA 级为目标。
a11y-keyboard = 每个页面都可以只用键盘操作，焦点位置始终可见。
a11y-no-script = 每个页面在不启用 JavaScript 时都能正常使用。
a11y-contrast = 文字与背景的对比度不低于 4.5:1，信息从不只靠颜色区分。
a11y-languages = 每个页面都提供中文和英文版本。
a11y-report = 如有无法使用的地方，请告知平台运营方，并附上页面地址。

## 错误
error-not-found-title = 页面不存在
error-not-found-body = 此地址没有页面，可能已经移动，或者数据集已被撤回。
error-forbidden-title = 您无权查看此页面
error-forbidden-body = 您的账号没有访问此页面的权限。如认为应当有权访问，请联系本单位管理员。
error-unavailable-title = 服务繁忙
error-unavailable-body = 平台暂时无法响应，请几秒钟后重试。
error-internal-title = 出现了问题
error-internal-body = 平台无法显示此页面，问题已记录，请稍后重试。
error-go-home = 返回首页
error-search = 检索数据集
error-request-id = 联系技术支持时，请提供以下编号：

## 获取非开放数据
get-publisher = 本数据集由本单位发布。
get-publisher-workspace = 在工作台中管理
get-granted = 可以，本单位已获使用授权。
get-granted-until = 授权有效期至
get-granted-ledger = 每次下载计入授权额度，并记入流通台账；回执可在工作台查看。
get-file = 文件
get-pending = 本单位的申请正在审核中。
get-pending-detail = 发布部门的收件日期：
get-pending-link = 查看本单位的申请
get-requestable = 可以，需提出申请。
get-requestable-detail = 说明本单位使用数据的用途，由发布部门审核并确定授权条件。
get-request = 申请使用
get-not-for-you = 本单位不能获取。
get-not-for-you-detail = 按本数据集所属类别的规定，此类单位不能获取该数据。
file-granted = 授权范围内
request-title = 申请使用数据
request-statement = 数据用于什么？
request-statement-hint = 用 10 至 5000 字说明用途：项目内容、使用数据的人员，以及将发布哪些成果。发布部门会看到这段说明。
request-term = 授权期限
request-term-hint = 以天计，最长 { COUNT($days) } 天。
request-send = 提交申请
request-term-invalid = 请以整数天数填写期限
request-purpose-invalid = 请选择发布部门提供的用途之一
request-statement-invalid = 请用 10 至 5000 字说明用途
request-not-verified = 本单位正在等待平台核验，核验通过后即可申请数据。
request-sent = 申请已提交。发布部门审核后，结果将在此显示。
offer-title = 发布部门提供的条件
offer-term = 最长期限
offer-requests = 请求次数上限
offer-bytes = 数据量上限
offer-days = { COUNT($days) } 天
offer-fees = 费用
offer-free = 免费
offer-fee-amounts = 每次请求 { $request }，每 MB { $mb }
refused-title = 数据请求未获准
refused-quota = 授权额度已用完。可向发布部门了解新的授权。
refused-purpose = 请选择授权允许的用途。
refused-unavailable = 文件暂时无法读取，本次未计数，请稍后再试。
refused-no-grant = 本单位没有该数据的有效授权。
refused-other = 请求无法完成。
refused-ledger = 本次拒绝已记入台账，条目编号
refused-back = 返回数据集

## 审核使用申请
review-title = 使用申请
review-requester = 申请单位
review-verified = 已核验
review-unverified = 未核验
review-approve-title = 批准
review-approve-hint = 授权沿用本部门提供的条件，可在此收紧：缩短期限或减少额度。额度留空则沿用原条件。
review-max-mb = 数据量上限（MB）
review-max-requests = 请求次数上限
review-approve = 批准并发放授权
review-reject-title = 不予批准
review-reason = 理由
review-reason-hint = 申请单位会看到此理由。请说明怎样的申请可以获批。
review-reject = 不予批准
review-number-invalid = 请填写大于零的整数
review-reason-missing = 请向申请单位说明理由
review-already-decided = 该申请已有审核结果。

## 台账
ledger-title = 流通台账
ledger-lead-all = 平台上记录的全部行为：数据请求及其决定，以及对台账本身的查阅。
ledger-lead-own = 本单位行为的记录，以及对本单位数据集的请求。
ledger-kind = 类型
ledger-any = 全部
kind-data-access = 数据请求
kind-data-replay = 重复请求
kind-ledger-read = 查阅台账
kind-access-refused = 被拒绝的操作
ledger-decision = 决定
decision-permit = 准予
decision-deny = 拒绝
decision-success = 完成
decision-failure = 失败
ledger-organization = 单位
ledger-from = 起始日期
ledger-to = 截止日期
ledger-filter = 查询
ledger-count = { COUNT($count) } 条记录
ledger-zone = 时区
ledger-time = 时间
ledger-fee = 费用
ledger-anonymous = 匿名
ledger-page = 第 { COUNT($page) } 页，共 { COUNT($pages) } 页
entry-title = 台账条目 { $seq }
entry-verified = 已验证：该条目在已签名的台账中。
entry-verified-detail = 已使用台账公布的公钥，对照最新签名检查点（覆盖 { COUNT($size) } 条记录）核验其包含证明。不破坏该签名就无法修改或删除此条目。
entry-pending = 记录于最新检查点之后。
entry-pending-detail = 最新签名检查点覆盖 { COUNT($size) } 条记录。几秒钟内签发的下一个检查点将覆盖此条目，请刷新页面核验。
entry-no-checkpoint = 尚未签发检查点。
entry-failed = 包含证明核验未通过。
entry-provider = 提供单位
entry-canonical = 条目原文
entry-canonical-hint = 规范化 JSON：其哈希即台账默克尔树的叶节点。
entry-proof = 包含证明
entry-tree-size = 树的规模
entry-root = 根哈希
entry-path = 审计路径
entry-checkpoint = 签名检查点
entry-check-yourself = 可用离线核验工具自行核验：
entry-proof-api = 证明的 JSON
statement-title = 对账单
statement-month = 月份
statement-checkpoint = 统计截至覆盖 { COUNT($size) } 条记录的签名检查点。
statement-csv = 下载 CSV
statement-consumer = 获取
statement-provider = 提供
statement-empty = 本月没有记录。
statement-counterparty = 对方单位
statement-denied = 被拒绝
statement-entries = 台账条目
statement-total = 合计
statement-pending = 本月有 { COUNT($count) } 条记录在检查点之后，将计入下一个检查点。
workspace-receipts = 下载回执
workspace-no-receipts = 尚无下载。
workspace-receipt-proof = 证明
workspace-verify = 核验
workspace-all-receipts = 台账中的全部回执

## 无需登录的账号操作
sign-in-forgot = 忘记密码？
sign-in-register = 企业注册
register-title = 企业注册
register-lead = 企业在此注册后可申请有条件开放的数据。我们会向您的电子邮箱发送确认链接；确认后，平台将核验企业的统一社会信用代码，核验通过即可申请数据。
register-organization = 企业名称
register-organization-hint = 与营业执照一致。
register-credit-code = 统一社会信用代码
register-credit-code-hint = 18 位，见营业执照。
register-name = 您的姓名
register-email-hint = 确认链接将发送到此地址，登录时也使用此地址。
register-phone = 联系电话
register-optional = 选填。
register-button = 注册
register-have-account = 已有账号？
register-organization-missing = 请填写企业名称
register-credit-code-missing = 请填写统一社会信用代码
register-name-missing = 请填写您的姓名
register-email-missing = 请填写电子邮箱
register-sent-title = 请查收邮件
register-sent = 如果 { $email } 可以注册，带有确认链接的邮件已发往该地址。
register-sent-next = 请在一天内打开链接并设置密码。在此之前不会创建任何账号。
account-invalid-organization-name = 名称应为 1 至 200 个字符
account-invalid-credit-code = 请填写有效的统一社会信用代码：18 位，且校验码正确
account-invalid-display-name = 姓名应为 1 至 200 个字符
account-invalid-email = 请填写有效的电子邮箱，例如 name@example.com
account-invalid-contact-phone = 请填写有效的电话号码
account-invalid-password = 请按上方要求的长度设置密码
account-credit-code-taken = 使用该信用代码的企业已注册。请联系该企业的管理员邀请您加入。
account-name-taken = 同名单位已注册。
account-rate-limited-title = 请求过于频繁
account-rate-limited = 您所在网络在过去一小时内的请求过多，请稍后再试。
account-link-title = 链接无法使用
account-link-invalid = 链接无效，请检查是否完整复制。
account-link-expired = 链接已过期，请重新申请。
account-link-used = 链接已被使用。
account-already-member = 您的账号已属于该单位，请直接登录。
account-new-password = 新密码
account-password-hint = 请使用较长且未在其他地方使用过的密码。
account-password-length = 至少 { COUNT($min) } 个字符。
account-continue = 继续
confirm-title = 设置密码
confirm-lead = 通过此链接，您的电子邮箱已得到确认。请设置登录密码。
confirm-done-title = 账号已创建
confirm-done = { $organization } 已注册，您是该企业的管理员。平台核验企业后即可申请数据；现在即可登录。
reset-request-title = 重置密码
reset-request-lead = 请填写账号的电子邮箱，我们将发送设置新密码的链接。
reset-request-button = 发送链接
reset-sent-title = 请查收邮件
reset-sent = 如果 { $email } 有账号，带有重置密码链接的邮件已发往该地址。
reset-title = 设置新密码
reset-lead = 请为账号设置新密码。所有已登录的设备都将退出登录。
reset-done-title = 密码已修改
reset-done = 请用新密码登录。
invitation-title = 接受邀请
invitation-lead = 您受邀加入平台上的一个单位。如果您已有使用该邮箱的账号，请留空以下各项；否则请填写姓名并设置密码。
invitation-name-hint = 仅在新建账号时填写。
invitation-done-title = 已加入
invitation-done = 您已成为 { $organization } 的成员，登录即可开始使用。

## 接口密钥
keys-title = 接口密钥
keys-lead = 程序使用接口密钥获取数据：先用密钥换取短期有效的访问令牌，再携带令牌和用途调用数据接口。每个密钥以您的角色、代表本单位操作。
keys-created = 新密钥
keys-created-once = 请立即复制并妥善保存密钥，它只显示这一次。如果丢失，请撤销该密钥并另建一个。
keys-example = 调用数据接口
keys-example-lead = 用密钥获取令牌，然后在授权范围内下载数据文件，或读取数据表的行（授权允许的字段，可筛选、分页），并声明用途：
keys-example-receipt = 响应中的 X-PDX-Ledger-Seq 头是对应台账条目的编号，即您的回执。
keys-list = 密钥列表
keys-none = 尚无密钥。
keys-name = 密钥名称
keys-name-hint = 注明使用场景，例如“3 号服务器夜间导入”。
keys-name-invalid = 名称应为 1 至 200 个字符
keys-created-at = 创建日期
keys-last-used = 最近使用
keys-revoked = 已撤销
keys-actions = 操作
keys-revoke = 撤销
keys-new = 新建密钥
keys-create = 创建密钥

## 已发放的授权
grants-issued = 已发放的授权
grants-none = 本部门的数据集尚未发放授权。
grants-suspend = 暂停
grants-resume = 恢复
grants-revoke = 撤销

## 审计数据
usage-title = 使用情况
usage-by = 按
usage-consumer = 使用单位
usage-lead = 期间内准予的数据请求共 { COUNT($count) } 次
usage-chart = 每日准予的数据请求次数，
usage-daily-table = 每日数据
usage-day = 日期
# The figures an anomaly rule weighed, by their names in the report.
figure-bytes = 字节数
figure-days-of-history = 对比的历史天数
figure-factor = 为平常用量的倍数
figure-hours-before-end = 距授权结束的小时数
figure-idle-days = 未使用天数
figure-minutes = 持续分钟数
figure-percent = 已用配额比例（%）
figure-quota = 配额
figure-refusals = 拒绝次数
figure-refused = 被拒绝
figure-requests = 请求数
figure-requests-that-day = 当日请求数
figure-served = 已提供
figure-threshold = 阈值
figure-threshold-days = 阈值（天）
figure-threshold-hours = 阈值（小时）
figure-threshold-percent = 阈值（%）
figure-used = 已用
figure-usual-bytes = 平常每日字节数
figure-usual-requests = 平常每日请求数
figure-window-minutes = 时间窗口（分钟）
anomalies-title = 异常情况
anomalies-count = { $count ->
    [0] 期间内没有发现异常。
   *[other] 期间内发现 { COUNT($count) } 项异常。
}
rule-denial-burst = 短时间内多次被拒绝
rule-denial-burst-about = 同一主体在短时间内多次被拒绝：可能是程序配置错误，也可能是有人试探。
rule-near-quota = 授权额度即将用完
rule-near-quota-about = 某项授权已用去大部分允许的请求次数或数据量。
rule-use-before-end = 授权终止前集中使用
rule-use-before-end-about = 授权到期或被撤销前的几小时内使用量很大。
rule-unverified-use = 已撤销核验的单位仍在使用
rule-unverified-use-about = 核验已被撤销的单位获取了数据。
rule-dormant-grant = 长期未用的授权突然使用
rule-dormant-grant-about = 一项长期未使用的授权突然被使用。
rule-volume-spike = 下载量远超平常
rule-volume-spike-about = 某日在一项授权下的下载量远超其平常水平。

## 发布数据
publish-new = 新建数据集
publish-new-title = 描述新的数据集
publish-edit-title = 修改描述
publish-describe = 数据内容
publish-title = 中文名称
publish-title-hint = 按公众检索的习惯命名。
publish-description = 中文简介
publish-title-en = 英文名称
publish-title-en-hint = 以英文浏览门户的访客看到此名称，也能用它检索到数据集。没有英文名称时留空。
publish-description-en = 英文简介
publish-title-en-missing = 填写英文简介时须同时填写英文名称。
publish-keywords-hint = 用逗号分隔。
publish-temporal-start = 时间范围起
publish-temporal-end = 时间范围止
publish-contact-name = 联系人
publish-contact-email = 联系邮箱
publish-resource-code-hint = 政务信息资源目录中的编码（如有）。
publish-classify = 开放与共享
publish-classify-hint = 分类决定谁能以什么方式获取数据：核心数据不向社会开放，只能有条件共享；重要数据不能无条件开放；无条件开放的数据须注明许可协议。
publish-licence-hint = 无条件开放的数据必填；需申请的数据，其许可协议由发布条件确定。
publish-no-licence = 不指定
publish-save = 保存
publish-date-invalid = 请按“年-月-日”填写日期
publish-classes-missing = 请选择开放类型、共享类型和数据分级
publish-field-invalid = 请检查此项
publish-slug-taken = 已有同名数据集，请修改名称
rule-core-sharing-must-be-conditional-or-none = 核心数据只能有条件共享或不予共享。
rule-core-opening-must-be-closed = 核心数据不得向社会开放。
rule-important-opening-must-not-be-open = 重要数据不能无条件开放。
rule-open-data-requires-licence = 无条件开放的数据须注明许可协议，请在下方选择。
publish-revision = 新版本准备中
publish-review-comment = 审核意见：
publish-edit = 修改描述和分类
publish-public-page = 查看公开页面
publish-no-files = 尚无文件，请在下方上传数据。
publish-file-title = 文件名称
publish-file = 文件
publish-file-hint = CSV、JSON、XLSX 等格式，不超过 { $size }。
publish-upload = 上传
publish-upload-failed = 上传中断，请重试。
publish-file-missing = 请选择要上传的文件
publish-file-too-large = 文件超过平台允许的大小。
publish-next = 下一步
publish-submit-hint = 描述和文件准备好后，提交本部门审核人员审核。
publish-submit = 提交审核
publish-review-hint = 请检查描述、分类和文件，予以发布，或附意见退回发布人员。
publish-publish = 发布
publish-return = 退回修改
publish-return-comment = 需要修改的内容
publish-awaiting-review = 数据集正在等待本部门审核。
publish-revise = 开始新版本
publish-withdraw = 从目录中撤下
publish-withdraw-reason = 撤下原因（将在数据集页面显示）
publish-nothing-to-do = 目前没有需要处理的事项。
publish-not-now = 数据集当前的状态不允许这一步。
offer-set-hint = 申请按以下条件授权；审核人员可在审批单个申请时收紧条件。
offer-none-hint = 尚未设定提供条件：设定之前，企业和部门无法申请此数据集。
offer-purposes = 允许的用途
offer-term-hint = 授权的最长期限，以天计（1 至 3650）。
offer-limit-hint = 留空表示不限。
offer-fee-request = 每次请求费用（元）
offer-fee-mb = 每 MB 费用（元）
offer-fee-hint = 以元为单位，精确到分；留空或 0 表示免费。
offer-fee-invalid = 请填写金额（元），例如 0.50
offer-purposes-invalid = 请至少选择一种用途
offer-term-invalid = 请填写 1 至 3650 天的期限
offer-licence-invalid = 请选择许可协议
offer-save = 保存提供条件

## 数据管理机构
admin-organizations = 单位管理
admin-organizations-count = 共 { COUNT($count) } 个单位
admin-kind = 类型
admin-code-valid = 校验码正确
admin-code-invalid = 校验码错误
admin-verify = 核验通过
admin-unverify = 撤销核验
admin-new-agency = 添加政府部门
admin-agency-name = 部门名称
admin-slug = 网址中的简称（选填）
admin-create-agency = 添加部门
admin-invalid-name = 名称应为 1 至 200 个字符
admin-invalid-slug = 请使用小写字母、数字和连字符
admin-invalid-credit-code = 请填写有效的统一社会信用代码
admin-invalid-contact-email = 请填写有效的电子邮箱，例如 name@example.gov
admin-code-taken = 已有单位使用该信用代码。
admin-members = 成员
admin-roles = 角色
admin-save-roles = 保存角色
admin-remove = 移除
admin-invitations = 待接受的邀请
admin-no-invitations = 没有待接受的邀请。
admin-invitation-expires = 链接有效期至
admin-withdraw-invitation = 撤回
admin-invitation-not-pending = 该邀请已被接受、已撤回或已过期。
admin-invite = 邀请成员
admin-invite-hint = 对方将通过电子邮件收到加入链接，并使用自己的账号。
admin-send-invitation = 发送邀请
admin-roles-missing = 请至少选择一个角色
admin-roles-invalid = 该单位不能设置这些角色。
admin-last-admin = 单位至少要保留一名管理员。
admin-already-member = 该邮箱已是成员。
role-admin = 管理员
role-publisher = 发布人员
role-reviewer = 审核人员
role-member = 成员
role-platform-admin = 平台管理员
role-auditor = 审计人员
admin-licences = 许可协议
admin-licences-lead = 无条件开放的数据采用开放许可协议；需申请的数据按开发利用协议使用，每一次数据请求都依据其策略（ODRL 2.2 的严格子集）作出决定。
admin-licence-open = 开放许可
admin-licence-development = 开发利用
admin-licence-text = 协议全文
admin-licence-policy = 策略（ODRL JSON）
admin-licence-terms = 允许与禁止的使用
admin-licence-odrl = 策略的 ODRL JSON（供机器读取）
policy-permits = 允许
policy-prohibits = 禁止
policy-action-use = 任何使用
policy-action-read = 通过 API 读取记录
policy-action-download = 下载文件
policy-action-query = 查询数据
policy-rule-always = { $action }，无附加条件。
policy-rule-when = { $action }，条件是{ $condition }。
policy-rule-when-these = { $action }，条件是
policy-all-of = 同时满足以下各项：
policy-any-of = 满足以下任一项：
policy-list-separator = 、
policy-dateTime = 请求时间{ $operator ->
    [eq] 为 { $value }
    [neq] 不为 { $value }
    [lt] 早于 { $value }
    [lteq] 不晚于 { $value }
    [gt] 晚于 { $value }
   *[gteq] 不早于 { $value }
}
policy-elapsedTime = 自授权开始起的时间{ $operator ->
    [eq] 恰为 { $value }
    [neq] 不为 { $value }
    [lt] 少于 { $value }
    [lteq] 不超过 { $value }
    [gt] 超过 { $value }
   *[gteq] 不少于 { $value }
}
policy-count = 请求次数（含本次）{ $operator ->
    [eq] 恰为 { $value } 次
    [neq] 不为 { $value } 次
    [lt] 少于 { $value } 次
    [lteq] 不超过 { $value } 次
    [gt] 超过 { $value } 次
   *[gteq] 不少于 { $value } 次
}
policy-purpose = 申报的用途{ $operator ->
    [eq] 为{ $value }
    [neq] 不为{ $value }
    [isAnyOf] 为以下之一：{ $value }
   *[isNoneOf] 不为以下任何一项：{ $value }
}
policy-recipient = 接收机构{ $operator ->
    [eq] 为 { $value }
    [neq] 不为 { $value }
    [isAnyOf] 为以下之一：{ $value }
   *[isNoneOf] 不为以下任何一项：{ $value }
}
policy-days = { $count } 天
policy-hours = { $count } 小时
policy-minutes = { $count } 分钟
policy-seconds = { $count } 秒
admin-new-licence = 添加开发利用协议
admin-new-licence-hint = 策略须为受支持子集内的 ODRL 策略：使用的许可与禁止，可附用途、时间和次数的约束。
admin-licence-id = 标识
admin-licence-url = 协议全文地址
admin-create-licence = 添加协议
admin-policy-json = 策略不是有效的 JSON
admin-policy-rejected = 策略超出受支持的 ODRL 子集，位置：
admin-licence-invalid-id = 请使用 1 至 64 个字母、数字、连字符或点
admin-licence-invalid-title = 请填写名称
admin-licence-invalid-url = 请填写 http 或 https 地址
admin-licence-taken = 已有使用该标识的协议。
request-withdraw = 撤回

## 表格文件的数据行（数据服务）
file-rows = 数据行
rows-none = 未载入
rows-running = 载入中
rows-ready = 可查询
rows-failed = 载入失败
rows-loaded = { $rows } 行
rows-rejected = 拒收 { $rows } 行
rows-progress = 已读取的文件字节
rows-loading-hint = 文件正在载入数据表，载入完成后即可查询其数据行。
rows-refresh = 刷新
rows-columns-of = “{ $file }”的字段
rows-column = 字段
rows-type = 类型
rows-sensitive = 敏感
rows-indexed = 已索引
rows-yes = 是
rows-no = 否
rows-type-string = 文本
rows-type-integer = 整数
rows-type-number = 数值
rows-type-boolean = 是/否
rows-type-date = 日期
rows-type-datetime = 日期时间
rows-rejects = 未载入的行
rows-reject-line = 第 { $row } 行：{ $reason }
rows-api-hint = 使用方按其字段权限通过以下接口读取这些数据行：
offer-rows = 最多行数
offer-rows-hint = 授权可通过数据接口读取的行数；留空表示不限。
columns-title = 授权持有方可获得的字段
columns-hint = 为已加载数据表的每个字段选择：原样提供、以密钥哈希替换（同一授权内可关联，跨授权不可关联）、仅保留末尾字符、仅保留月份，或不提供。标记为敏感的字段默认不提供，除非您另行选择。
columns-delivered = 提供方式
columns-characters = 保留字符数
columns-characters-of = “{ $column }”保留的字符数
columns-plain = 原样提供
columns-hash = 密钥哈希
columns-keep-last = 仅保留末尾字符
columns-month = 仅保留月份
columns-drop = 不提供
columns-invalid = 无法保存这些字段规则：请为每个字段选择一条规则
columns-characters-invalid = 请保留 1 到 16 个字符
gateway-add = 添加实时接口
gateway-title-hint = 使用方看到的名称，例如“公交实时位置”。
gateway-access-url = 服务地址
gateway-access-url-hint = 其公开文档或访问端点（https）；调用转发到哪里，在添加后的网关设置中填写。
gateway-add-submit = 添加接口
gateway-title-missing = 请填写接口名称
gateway-access-url-invalid = 请输入 http 或 https 地址
gateway-of = “{ $file }”的网关
gateway-configured = 正在转发
gateway-forwards-to = 调用转发至
gateway-not-configured = 尚未配置
gateway-not-configured-hint = 在设置转发地址之前，所有调用都会被拒绝。
gateway-credential-kept = 平台保存着 { $date } 录入的凭据（{ $kind }），此后不再显示。
gateway-call-hint = 使用方携带令牌并声明用途，调用地址为
gateway-base-url = 上游基础地址
gateway-base-url-hint = 本部门的服务地址，http 或 https，不含用户名、密码、查询参数或片段。对 …/api/路径 的调用转发到此地址加上该路径。
gateway-credential = 平台向上游出示的凭据
gateway-credential-hint = 由平台加密保存，不再显示。输入新凭据即替换原凭据。
gateway-credential-kind = 类型
gateway-credential-keep = 保留现有凭据（{ $kind }）
gateway-credential-none = 无
gateway-credential-header = 请求头
gateway-credential-bearer = Bearer 令牌
gateway-credential-basic = 用户名和密码
gateway-credential-query = 查询参数
gateway-credential-name = 请求头或参数名称
gateway-credential-username = 用户名（用于用户名和密码）
gateway-credential-secret = 密钥（值、令牌或密码）
gateway-credential-invalid = 凭据不完整：请选择类型，并在需要时填写名称和密钥
gateway-methods = 允许的方法
gateway-methods-invalid = 请至少允许一种方法
gateway-paths = 允许的路径
gateway-paths-hint = 每行一个基础地址之下的路径模式：* 匹配路径中的一段，** 匹配任意多段；/** 表示全部允许。
gateway-paths-invalid = 每行都必须是以 / 开头的路径模式
gateway-timeout = 上游可用时间（毫秒）
gateway-timeout-invalid = 请输入允许范围内的毫秒数
gateway-concurrency = 同时调用数
gateway-concurrency-invalid = 请输入允许范围内的调用数
gateway-url-invalid = 请输入服务的 http 或 https 地址，不含用户名、密码、查询参数或片段；除非本平台允许，不得指向内网
gateway-save = 保存网关设置
gateway-remove = 停止转发

# 在浏览器中查看数据表
table-title = “{ $file }”的数据行
table-lead = 以表格查看此文件的数据行，显示您的权限可见的列。您查看的每一页都是一次数据请求，与下载一样记入流通账本。
table-search = 在数据行中查找文字
table-search-button = 查找
table-caption = 文件的数据行
table-sort = （按此列排序）
table-mask-hash = 已哈希
table-mask-keep_last = 部分遮蔽
table-mask-month = 仅保留月份
table-no-rows = 没有匹配的数据行。
table-shown = 显示 { $count } 行。
table-receipt = 已记入账本条目 #{ $seq }。
table-pages = 数据行分页
table-first = 第一页
table-next = 下一页
table-not-loaded = 此文件的数据行尚未载入，请稍后再试。
table-bad-query = 无法在此数据表上进行该查找或排序，请检查列名后重试。
table-too-slow = 该查找耗时过长，请使用更具体的词语。
table-busy = 当前查看数据表的人过多，请稍后再试。
table-api-hint = 通过数据接口获取相同的数据行，可筛选、排序、分页，并输出 CSV 或 NDJSON：
table-csv = 以 CSV 获取这些数据行
get-granted-table = 也可以在此查看已加载文件的数据行（仅显示授权允许的列）：
table-purpose = 用途：{ $purpose }。
table-view = 查看数据行
limited-title = 请求过多
limited-detail = 过去一分钟内来自您地址的数据请求过多，请稍候再试。
refused-sign-in = 此数据仅提供给持有授权的单位：请登录，查看本单位能否申请。
