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
get-register = 还没有账号？
get-register-link = 注册企业账号
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
