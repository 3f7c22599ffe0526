# The PDX portal in English. Every message here has a counterpart in zh-CN.ftl (a test checks).

## Frame
skip-to-content = Skip to main content
nav-label = Main
nav-home = Home
nav-datasets = Datasets
nav-organizations = Organisations
nav-reports = Reports
nav-api = API
language-switch = Language
crumbs-label = You are here
footer-about = PDX publishes the city's public data. Every download and data request is recorded in a tamper-evident ledger that anyone can verify.
footer-about-link = About PDX
footer-api-docs = API documentation
footer-dcat = DCAT catalogue
footer-ckan = CKAN API
footer-ledger-key = Ledger public key
footer-checkpoint = Latest ledger checkpoint
footer-accessibility = Accessibility

## Home
home-title = Find and use the city's public data
home-lead = Search datasets published by the city's agencies. Open data can be downloaded straight away; other data can be requested for a stated purpose.
home-total = Datasets published:
home-themes = Browse by theme
home-newest = Recently updated
home-all-newest = All datasets, most recently updated first
home-most-used = Most used in the last 30 days
home-most-used-none = No downloads yet in the last 30 days.
home-requests = { $count ->
    [one] 1 request
   *[other] { COUNT($count) } requests
}
home-how-title = How to get data
home-how-open = Open data: download it at once, no account needed.
home-how-conditional = Data shared on request: sign in with your organisation's account, request access stating your purpose, and the publishing agency decides.
home-how-ledger = Every download and every decision is written to the circulation ledger, so that use of public data can be audited.

## Search
search-label = Search datasets
search-placeholder = For example: bus stops, 空气质量
search-button = Search
search-hint = Search in Chinese or English. Use quotation marks for an exact phrase.
search-title = All datasets
search-title-for = Datasets matching “{ $query }”
search-count = { $count ->
    [one] 1 dataset
   *[other] { COUNT($count) } datasets
}
search-none-title = No datasets match your search
search-none-words = Check the spelling, or try fewer or more general words.
search-none-filters = Remove some of the filters on the left.
search-none-languages = Try the same subject in the other language.
search-clear = Start a new search
facets-label = Filter results
facet-theme = Theme
facet-publisher = Publisher
facet-format = Format
facet-opening = Availability to the public
facet-sharing = Sharing between agencies
facet-grade = Data grade
facet-licence = Licence
facet-remove = (remove this filter)
sort-label = Sort by
sort-relevance = Best match
sort-modified = Recently updated
sort-title = Title
pager-label = Pages of results
pager-previous = Previous
pager-next = Next
card-updated = last updated
card-formats = Formats

## Classification
class-opening = Availability to the public
class-sharing = Sharing between agencies
class-grade = Data grade
class-rules-link = How data is classified
opening-open = Open data
opening-open-about = Anyone may use it without an account, by downloading its files or calling its services. Each use is recorded without personal details.
opening-conditional = On request
opening-conditional-about = Enterprises and organisations may request it for a stated purpose; the publishing agency reviews each request and sets the terms of use.
opening-closed = Not open to the public
opening-closed-about = This data is not released to the public. Its description is published so that people know it exists.
sharing-unconditional = Shared with agencies
sharing-unconditional-about = Government agencies receive it on request, without review.
sharing-conditional = Shared with agencies on review
sharing-conditional-about = Government agencies may request it; the publishing agency reviews each request.
sharing-none = Not shared
sharing-none-about = Not shared with other agencies.
grade-general = General data
grade-general-about = Data whose misuse would cause limited harm.
grade-important = Important data
grade-important-about = Data that could harm public interests if leaked or misused; never released as open data.
grade-core = Core data
grade-core-about = Data essential to national security and the economy; never open to the public and shared only under strict conditions.

## Dataset
dataset-published-by = Published by
dataset-keywords = Keywords
dataset-files = Files and services
dataset-no-files = No files have been published for this dataset yet.
dataset-classes = Who can get this data
dataset-metadata = About this dataset
dataset-withdrawn = Withdrawn.
dataset-withdrawn-detail = The publisher has withdrawn this dataset: its description stays here for reference, but its data can no longer be obtained.
file-withdrawn = No longer available
dataset-machines = For developers and harvesters
get-title = Can I have this data?
get-open = Yes — download it now.
get-open-detail = This is open data. You do not need an account.
get-open-ledger = Each download is recorded in the public ledger, without personal details.
get-open-service = Yes — use the service now.
get-open-service-ledger = Each call is recorded in the public ledger, without personal details.
get-download = Download
get-conditional = Yes, on request.
get-conditional-detail = Sign in with your organisation's account and request access, saying what you will use the data for. The publishing agency reviews the request and sets the terms.
get-sign-in = Sign in to request access
get-agencies-only = Only for government agencies.
get-agencies-only-detail = This data is not open to the public. Government agencies can obtain it through inter-agency sharing.
get-closed = Not available.
get-closed-detail = This data is neither open to the public nor shared between agencies. Its description is published so that people know it exists.
file-name = Name
file-format = Format
file-size = Size
file-updated = Updated
file-action = Get it
file-download = Download
file-open-api = Open the service
file-api-calls = Programs call it at
file-on-request = On request
meta-resource-code = Resource code
meta-publisher = Publisher
meta-frequency = Update frequency
meta-themes = Themes
meta-spatial = Area covered
meta-temporal = Period covered
meta-contact = Contact
meta-licence = Licence
meta-licence-agreement = Terms agreed for each grant of access
meta-version = Version
meta-first-published = First published
meta-modified = Last updated
frequency-continuous = Continuously updated
frequency-hourly = Updated hourly
frequency-daily = Updated daily
frequency-weekly = Updated weekly
frequency-monthly = Updated monthly
frequency-quarterly = Updated quarterly
frequency-annual = Updated yearly
frequency-irregular = Updated irregularly
frequency-unknown = Update frequency not stated

## Accounts
account-sign-in = Sign in
account-workspace = My workspace
account-sign-out = Sign out
account-acting-for = Acting for
account-switch = Switch
sign-in-title = Sign in
sign-in-email = E-mail address
sign-in-password = Password
sign-in-button = Sign in
sign-in-missing = Enter your e-mail address and password.
sign-in-invalid = The e-mail address or password is not right.
sign-in-throttled = Too many attempts. Wait a few minutes, then try again.
sign-in-unconfirmed = Confirm your e-mail address first: follow the link in the message we sent you.
sign-in-no-organisation = Your account does not belong to any organisation yet. Ask your organisation's administrator to add you.
form-error-summary = There is a problem
form-expired-title = This form has expired
form-expired-body = For your security, forms can only be sent from the page that showed them, for a limited time. Nothing was changed.
form-expired-back = Go back and try again

## Workspaces
workspace-tasks = Your tasks
workspace-overview = Overview
workspace-enterprise-title = Your organisation's data
workspace-agency-title = Your agency's datasets
workspace-audit-title = Audit
workspace-grants = { $count ->
    [one] 1 grant of access
   *[other] { COUNT($count) } grants of access
}
workspace-no-grants = Your organisation has no grants yet. Find a dataset and request access to it.
workspace-requests = { $count ->
    [one] Access requests (1 awaiting a decision)
   *[other] Access requests ({ COUNT($count) } awaiting a decision)
}
workspace-no-requests = Your organisation has not requested access to any data yet.
workspace-queue = { $count ->
    [one] Review queue (1)
   *[other] Review queue ({ COUNT($count) })
}
workspace-queue-empty = No requests are waiting for a decision.
workspace-datasets = { $count ->
    [one] 1 dataset
   *[other] { COUNT($count) } datasets
}
grant-active = In force
grant-expired = Expired
grant-suspended = Suspended
grant-revoked = Revoked
grant-valid = valid
grant-requests = Requests
grant-bytes = Data received
grant-no-limit = no limit
request-dataset = Dataset
request-purpose = Purpose
request-submitted = Submitted
request-state = State
request-submitted-state = Awaiting decision
request-approved = Approved
request-rejected = Rejected
request-withdrawn = Withdrawn
purpose-research = Research
purpose-public-service = Public service
purpose-product-development = Product development
purpose-education = Education
purpose-journalism = Journalism
purpose-statistics = Statistics
status-draft = Draft
status-in-review = In review
status-published = Published
status-withdrawn = Withdrawn
audit-ledger = The circulation ledger
audit-verified = Verified: the latest checkpoint is signed and extends the one before it
audit-problems = Problems found
audit-size = Entries
audit-latest = Entries covered by the latest signed checkpoint
audit-checked = Checked at

## Organisations
orgs-title = Organisations
orgs-lead = The agencies that publish data on this platform.
org-kind-agency = Government agency
org-kind-enterprise = Enterprise
org-kind-platform = Platform operator
org-datasets = { $count ->
    [one] 1 published dataset
   *[other] { COUNT($count) } published datasets
}
org-no-datasets = This organisation has not published any datasets yet.
org-all-datasets = See all its datasets
org-reports = Annual reports
org-no-reports = No annual report has been made public yet.

## Reports
reports-title = Annual reports
reports-lead = Each year, agencies report what data they opened and shared, how they decided requests for access, and how much was used. These are the reports they have made public.
reports-none = No agency has made an annual report public yet.
reports-agency = Agency
reports-year = Year
reports-formats = Download
report-year = Report for { $year }

## About
about-title = About PDX
about-lead = PDX, the Public Data Exchange, is where the city's agencies publish their data and where other agencies, enterprises and residents obtain it — openly, by sharing between agencies, or under a licence — with every request recorded in a ledger that auditors can verify.
about-ways = Three ways to get data
about-classes = How data is classified
about-classes-lead = Every dataset carries three labels, set by the publishing agency under the national rules for public data. Together they decide who may obtain it.
about-grade-rule = The stricter label always wins: core data is never open to the public, and important data is never released as open data.

## Accessibility
a11y-title = Accessibility statement
a11y-lead = We want everyone to be able to use this portal. It aims to meet the Web Content Accessibility Guidelines (WCAG) 2.1 at level AA.
a11y-keyboard = Every page can be used with a keyboard alone, and the focus is always visible.
a11y-no-script = Every page works without JavaScript.
a11y-contrast = Text has a contrast ratio of at least 4.5:1, and colour is never the only way information is shown.
a11y-languages = Every page is available in Chinese and English.
a11y-report = If something does not work for you, please tell the platform's operator, quoting the page's address.

## Errors
error-not-found-title = Page not found
error-not-found-body = There is no page at this address. It may have moved, or the dataset may have been withdrawn.
error-forbidden-title = You cannot see this page
error-forbidden-body = Your account does not give you access to this page. If you think it should, ask your organisation's administrator.
error-unavailable-title = The service is busy
error-unavailable-body = The platform cannot answer right now. Please try again in a few seconds.
error-internal-title = Something went wrong
error-internal-body = The platform could not show this page. The problem has been recorded; please try again later.
error-go-home = Go to the home page
error-search = Search datasets
error-request-id = If you contact support, quote this reference:

## Obtaining data that is not open
get-publisher = Your organisation publishes this dataset.
get-publisher-workspace = Manage it in your workspace
get-granted = Yes — your organisation holds a grant for it.
get-granted-until = Your grant is in force until
get-granted-ledger = Each download is counted against your grant and recorded in the circulation ledger; your workspace lists the receipts.
get-file = File
get-pending = Your organisation's request is being reviewed.
get-pending-detail = The publishing agency received it on
get-pending-link = See your requests
get-requestable = Yes, on request.
get-requestable-detail = Say what your organisation will use the data for. The publishing agency reviews the request and sets the terms of the grant.
get-request = Request access
get-not-for-you = Not available to your organisation.
get-not-for-you-detail = The rules for this dataset's class do not allow organisations of your kind to obtain it.
file-granted = Under your grant
request-title = Request access
request-statement = What will the data be used for?
request-statement-hint = Describe the use in 10 to 5,000 characters: the project, who will work with the data, and what will be published from it. The agency sees this text.
request-term = Term of the grant
request-term-hint = In days, at most { COUNT($days) }.
request-send = Send the request
request-term-invalid = Enter the term as a whole number of days
request-purpose-invalid = Choose one of the purposes the agency offers
request-statement-invalid = Describe the use in 10 to 5,000 characters
request-not-verified = Your organisation is awaiting verification by the platform. It can request data once verified.
request-sent = Your request was sent. The publishing agency will review it; its decision appears here.
offer-title = Terms the agency offers
offer-term = Longest term
offer-requests = Most requests
offer-bytes = Most data
offer-days = { $days ->
    [one] 1 day
   *[other] { COUNT($days) } days
}
offer-fees = Fees
offer-free = None
offer-fee-amounts = { $request } per request, { $mb } per MB
refused-title = The request for data was refused
refused-quota = Your grant's quota is used up. The publishing agency can tell you about a new grant.
refused-purpose = Choose the purpose your grant allows.
refused-unavailable = The file cannot be read at the moment. Nothing was counted; try again later.
refused-no-grant = Your organisation holds no grant in force for this data.
refused-other = The request could not be served.
refused-ledger = The refusal is recorded in the ledger as entry
refused-back = Back to the dataset

## Reviewing access requests
review-title = Access request
review-requester = Requested by
review-verified = Verified
review-unverified = Not verified
review-approve-title = Approve
review-approve-hint = The grant takes the terms of your offer. You may tighten them here: a shorter term or smaller quotas. Leave a quota empty to keep the offer's.
review-max-mb = Most data (MB)
review-max-requests = Most requests
review-approve = Approve and issue the grant
review-reject-title = Reject
review-reason = Reason
review-reason-hint = The requester reads this. Say what would make a new request acceptable.
review-reject = Reject the request
review-number-invalid = Enter a whole number greater than zero
review-reason-missing = Give the requester a reason
review-already-decided = This request has already been decided.

## The ledger
ledger-title = Ledger
ledger-lead-all = Every recorded act on the platform: data requests, their decisions, and reads of the ledger itself.
ledger-lead-own = The entries of your organisation's acts, and of requests for your datasets.
ledger-kind = Kind
ledger-any = Any
kind-data-access = Data request
kind-data-replay = Repeated request
kind-ledger-read = Ledger read
kind-access-refused = Refused act
ledger-decision = Decision
decision-permit = Permitted
decision-deny = Denied
decision-success = Done
decision-failure = Failed
ledger-organization = Organisation
ledger-from = From
ledger-to = To
ledger-filter = Show
ledger-count = { $count ->
    [one] 1 entry
   *[other] { COUNT($count) } entries
}
ledger-zone = Times in
ledger-time = Time
ledger-fee = Fee
ledger-anonymous = Anonymous
ledger-page = Page { COUNT($page) } of { COUNT($pages) }
entry-title = Ledger entry { $seq }
entry-verified = Verified: this entry is in the signed ledger.
entry-verified-detail = Its inclusion proof was checked against the latest signed checkpoint, which covers { COUNT($size) } entries, with the ledger's published key. The entry cannot be changed or removed without breaking that signature.
entry-pending = Recorded after the latest checkpoint.
entry-pending-detail = The latest signed checkpoint covers { COUNT($size) } entries. The next one, signed within seconds, will cover this entry; reload the page to check it.
entry-no-checkpoint = No checkpoint has been signed yet.
entry-failed = The inclusion proof did not check out.
entry-provider = Provider
entry-canonical = The entry as recorded
entry-canonical-hint = Its canonical JSON: the bytes whose hash is the leaf of the ledger's Merkle tree.
entry-proof = Inclusion proof
entry-tree-size = Tree size
entry-root = Root hash
entry-path = Audit path
entry-checkpoint = Signed checkpoint
entry-check-yourself = Check it yourself with the offline verifier:
entry-proof-api = the proof as JSON
statement-title = Statements
statement-month = Month
statement-checkpoint = Counted up to the signed checkpoint of { COUNT($size) } entries.
statement-csv = Download CSV
statement-consumer = Received
statement-provider = Delivered
statement-empty = Nothing this month.
statement-counterparty = With
statement-denied = Denied
statement-entries = Ledger entries
statement-total = Total
statement-pending = { $count ->
    [one] 1 entry of this month was recorded after the checkpoint and will be counted on the next one.
   *[other] { COUNT($count) } entries of this month were recorded after the checkpoint and will be counted on the next one.
}
workspace-receipts = Receipts of your downloads
workspace-no-receipts = No downloads yet.
workspace-receipt-proof = Proof
workspace-verify = Verify
workspace-all-receipts = All receipts in the ledger

## Accounts without a session
sign-in-forgot = Forgot your password?
sign-in-register = Register your enterprise
register-title = Register your enterprise
register-lead = Enterprises register here to request conditional data. We send a link to your e-mail address to confirm it; after that the platform verifies your enterprise by its unified social credit code before it can request data.
register-organization = Name of the enterprise
register-organization-hint = As on its business licence.
register-credit-code = Unified social credit code
register-credit-code-hint = 18 characters, on the business licence.
register-name = Your name
register-email-hint = We send the confirmation link here. You sign in with this address.
register-phone = Contact telephone
register-optional = Optional.
register-button = Register
register-have-account = Already have an account?
register-organization-missing = Enter the name of the enterprise
register-credit-code-missing = Enter the unified social credit code
register-name-missing = Enter your name
register-email-missing = Enter your e-mail address
register-sent-title = Check your e-mail
register-sent = If { $email } can be registered, a message with a confirmation link is on its way to it.
register-sent-next = Open the link within a day to choose your password. Nothing is created until you do.
account-invalid-organization-name = Enter the name in 1 to 200 characters
account-invalid-credit-code = Enter a valid unified social credit code: 18 characters, with a correct check character
account-invalid-display-name = Enter your name in 1 to 200 characters
account-invalid-email = Enter an e-mail address like name@example.com
account-invalid-contact-phone = Enter a telephone number
account-invalid-password = Choose a password of the length given above
account-credit-code-taken = An enterprise with this credit code is already registered. Ask its administrator to invite you.
account-name-taken = An organisation with this name is already registered.
account-rate-limited-title = Too many requests
account-rate-limited = Too many requests have come from your network in the last hour. Try again later.
account-link-title = This link cannot be used
account-link-invalid = The link is not valid. Check that you copied all of it.
account-link-expired = The link has expired. Ask for a new one.
account-link-used = The link has already been used.
account-already-member = Your account already belongs to this organisation. Sign in to use it.
account-new-password = New password
account-password-hint = Use a long passphrase that you do not use anywhere else.
account-password-length = At least { COUNT($min) } characters.
account-continue = Continue
confirm-title = Choose your password
confirm-lead = Your e-mail address is confirmed by this link. Choose the password you will sign in with.
confirm-done-title = Your account is ready
confirm-done = { $organization } is registered and you are its administrator. The platform verifies the enterprise before it can request data; you can sign in now.
reset-request-title = Reset your password
reset-request-lead = Enter the e-mail address of your account. We send it a link to choose a new password.
reset-request-button = Send the link
reset-sent-title = Check your e-mail
reset-sent = If { $email } has an account, a message with a link to reset its password is on its way to it.
reset-title = Choose a new password
reset-lead = Choose the new password of your account. Every device signed in to it will be signed out.
reset-done-title = Your password is changed
reset-done = Sign in with your new password.
invitation-title = Accept the invitation
invitation-lead = You were invited to join an organisation on the platform. If you already have an account with this e-mail address, leave the fields empty; otherwise choose your name and password.
invitation-name-hint = Only for a new account.
invitation-done-title = You have joined
invitation-done = You are now a member of { $organization }. Sign in to start.

## API keys
keys-title = API keys
keys-lead = Programs obtain data with an API key: they exchange it for a short-lived access token, then call the data API with the token and the purpose of use. Each key acts with your roles, for your organisation.
keys-created = Your new key
keys-created-once = Copy the secret now and keep it safe: it is shown only this once. If it is lost, revoke the key and create another.
keys-example = Call the data API
keys-example-lead = Get a token with the key, then download a distribution under your grant, or read a table's rows (the columns your grant allows, filtered and paged), declaring the purpose:
keys-example-receipt = The answer carries the X-PDX-Ledger-Seq header: the number of its ledger entry, your receipt.
keys-list = Keys
keys-none = No keys yet.
keys-name = Name of the key
keys-name-hint = Say where it is used, for example “nightly import on server 3”.
keys-name-invalid = Name the key in 1 to 200 characters
keys-created-at = Created
keys-last-used = Last used
keys-revoked = Revoked
keys-actions = Actions
keys-revoke = Revoke
keys-new = New key
keys-create = Create the key

## Grants issued
grants-issued = Grants issued
grants-none = No grants have been issued on your agency's datasets yet.
grants-suspend = Suspend
grants-resume = Resume
grants-revoke = Revoke

## The auditor's figures
usage-title = Usage
usage-by = By
usage-consumer = Consumer
usage-lead = { $count ->
    [one] 1 permitted data request in the period
   *[other] { COUNT($count) } permitted data requests in the period
}
usage-chart = Permitted data requests per day,
usage-daily-table = The figures of each day
usage-day = Day
# The figures an anomaly rule weighed, by their names in the report.
figure-bytes = Bytes
figure-days-of-history = Days of history compared
figure-factor = Times the usual volume
figure-hours-before-end = Hours before the grant ended
figure-idle-days = Days without use
figure-minutes = Minutes it lasted
figure-percent = Share of the quota used (%)
figure-quota = Quota
figure-refusals = Refusals
figure-refused = Refused
figure-requests = Requests
figure-requests-that-day = Requests that day
figure-served = Served
figure-threshold = Threshold
figure-threshold-days = Threshold (days)
figure-threshold-hours = Threshold (hours)
figure-threshold-percent = Threshold (%)
figure-used = Used
figure-usual-bytes = Usual bytes a day
figure-usual-requests = Usual requests a day
figure-window-minutes = Window (minutes)
anomalies-title = Anomalies
anomalies-count = { $count ->
    [0] No findings in the period.
    [one] 1 finding in the period.
   *[other] { COUNT($count) } findings in the period.
}
rule-denial-burst = Burst of refusals
rule-denial-burst-about = One principal was refused many times in a short while: a misconfigured program, or someone probing.
rule-near-quota = Grant at or near its quota
rule-near-quota-about = A grant has used most of the requests or data it allows.
rule-use-before-end = Use just before a grant ended
rule-use-before-end-about = Heavy use in the last hours before a grant expired or was revoked.
rule-unverified-use = Use by an organisation no longer verified
rule-unverified-use-about = Data was obtained by an organisation whose verification had been withdrawn.
rule-dormant-grant = Sudden use of a dormant grant
rule-dormant-grant-about = A grant unused for a long time was suddenly used.
rule-volume-spike = Volume far above the usual
rule-volume-spike-about = A day's downloads under a grant far exceeded its usual volume.

## Publishing
publish-new = New dataset
publish-new-title = Describe a new dataset
publish-edit-title = Edit the description
publish-describe = What it is
publish-title = Title (Chinese)
publish-title-hint = Name it as a person would search for it.
publish-description = Description (Chinese)
publish-title-en = Title in English
publish-title-en-hint = Shown to visitors who read the portal in English, and found by their searches. Leave it empty when there is none.
publish-description-en = Description in English
publish-title-en-missing = An English description needs an English title.
publish-keywords-hint = Separate them with commas.
publish-temporal-start = Covers from
publish-temporal-end = Covers until
publish-contact-name = Contact
publish-contact-email = Contact e-mail
publish-resource-code-hint = The code in the government resource catalog, if it has one.
publish-classify = Who may have it
publish-classify-hint = The classes decide who can obtain the data and how. Core data is closed to society and shared only conditionally; important data cannot be open to everyone; open data names its licence.
publish-licence-hint = Required for open data; the licence of requested data is set by your offer.
publish-no-licence = No licence
publish-save = Save
publish-date-invalid = Enter the date as year-month-day
publish-classes-missing = Choose the opening class, the sharing class and the grade
publish-field-invalid = Check this field
publish-slug-taken = Another dataset already has this name; change the title
rule-core-sharing-must-be-conditional-or-none = Core data may only be shared on request or not at all.
rule-core-opening-must-be-closed = Core data must be closed to society.
rule-important-opening-must-not-be-open = Important data cannot be open to everyone.
rule-open-data-requires-licence = Open data must name its licence: choose one below.
publish-revision = New version in preparation
publish-review-comment = The reviewer's comment:
publish-edit = Edit the description and classes
publish-public-page = See the public page
publish-no-files = No files yet. Upload the data below.
publish-file-title = Name of the file
publish-file = File
publish-file-hint = CSV, JSON, XLSX or another format, up to { $size }.
publish-upload = Upload
publish-upload-failed = The upload was interrupted. Try again.
publish-file-missing = Choose a file to upload
publish-file-too-large = The file is larger than the platform accepts.
publish-next = Next step
publish-submit-hint = When the description and files are ready, send the dataset to your agency's reviewers.
publish-submit = Submit for review
publish-review-hint = Check the description, the classes and the files. Publish, or return it to the publisher with a comment.
publish-publish = Publish
publish-return = Return to the publisher
publish-return-comment = What should change
publish-awaiting-review = The dataset awaits review by your agency's reviewers.
publish-revise = Start a new version
publish-withdraw = Withdraw from the catalog
publish-withdraw-reason = Why it is withdrawn (shown on its page)
publish-nothing-to-do = Nothing to do for now.
publish-not-now = That step is not possible in the dataset's present state.
offer-set-hint = Requests are granted on these terms; a reviewer may tighten them for one request.
offer-none-hint = No offer yet: enterprises and agencies cannot request this dataset until you set one.
offer-purposes = Purposes it may be used for
offer-term-hint = The longest term of a grant, in days (1 to 3,650).
offer-limit-hint = Empty for no limit.
offer-fee-request = Fee per request (¥)
offer-fee-mb = Fee per MB (¥)
offer-fee-hint = In yuan, to the fen; empty or 0 for free.
offer-fee-invalid = Enter an amount in yuan, like 0.50
offer-purposes-invalid = Choose at least one purpose
offer-term-invalid = Enter a term of 1 to 3,650 days
offer-licence-invalid = Choose a licence
offer-save = Save the offer

## The data bureau
admin-organizations = Organisations
admin-organizations-count = { $count ->
    [one] 1 organisation
   *[other] { COUNT($count) } organisations
}
admin-kind = Kind
admin-code-valid = check digit correct
admin-code-invalid = check digit wrong
admin-verify = Verify
admin-unverify = Withdraw verification
admin-new-agency = Add a government agency
admin-agency-name = Name of the agency
admin-slug = Short name in addresses (optional)
admin-create-agency = Add the agency
admin-invalid-name = Enter the name in 1 to 200 characters
admin-invalid-slug = Use lower-case letters, digits and hyphens
admin-invalid-credit-code = Enter a valid unified social credit code
admin-invalid-contact-email = Enter an e-mail address like name@example.gov
admin-code-taken = Another organisation has this credit code.
admin-members = Members
admin-roles = Roles
admin-save-roles = Save roles
admin-remove = Remove
admin-invitations = Invitations awaiting an answer
admin-no-invitations = No invitation is awaiting an answer.
admin-invitation-expires = Link valid until
admin-withdraw-invitation = Withdraw
admin-invitation-not-pending = This invitation was already accepted, withdrawn or has expired.
admin-invite = Invite someone
admin-invite-hint = They receive a link by e-mail to join, with an account of their own.
admin-send-invitation = Send the invitation
admin-roles-missing = Choose at least one role
admin-roles-invalid = These roles cannot be held in this organisation.
admin-last-admin = The organisation must keep at least one administrator.
admin-already-member = This address already belongs to a member.
role-admin = Administrator
role-publisher = Publisher
role-reviewer = Reviewer
role-member = Member
role-platform-admin = Platform administrator
role-auditor = Auditor
admin-licences = Licences
admin-licences-lead = Open data is published under an open licence. Data obtained on request is used under a development-use licence, whose policy (a strict subset of ODRL 2.2) every data request is decided against.
admin-licence-open = Open licence
admin-licence-development = Development use
admin-licence-text = The licence text
admin-licence-policy = Policy (ODRL JSON)
admin-licence-terms = What it permits and prohibits
admin-licence-odrl = The policy as ODRL JSON, for machines
policy-permits = Permitted
policy-prohibits = Prohibited
policy-action-use = Any use
policy-action-read = Reading records through the API
policy-action-download = Downloading files
policy-action-query = Querying the data
policy-rule-always = { $action }, always.
policy-rule-when = { $action }, when { $condition }.
policy-rule-when-these = { $action }, when{ " " }
policy-all-of = all of these hold:
policy-any-of = any of these holds:
policy-list-separator = { ", " }
policy-dateTime = the request is made { $operator ->
    [eq] at { $value }
    [neq] at any time but { $value }
    [lt] before { $value }
    [lteq] no later than { $value }
    [gt] after { $value }
   *[gteq] no earlier than { $value }
}
policy-elapsedTime = the time since the grant began is { $operator ->
    [eq] exactly { $value }
    [neq] other than { $value }
    [lt] less than { $value }
    [lteq] at most { $value }
    [gt] more than { $value }
   *[gteq] at least { $value }
}
policy-count = the number of requests, this one included, is { $operator ->
    [eq] exactly { $value }
    [neq] other than { $value }
    [lt] less than { $value }
    [lteq] at most { $value }
    [gt] more than { $value }
   *[gteq] at least { $value }
}
policy-purpose = the declared purpose is { $operator ->
    [eq] { $value }
    [neq] not { $value }
    [isAnyOf] one of { $value }
   *[isNoneOf] none of { $value }
}
policy-recipient = the receiving organisation is { $operator ->
    [eq] { $value }
    [neq] not { $value }
    [isAnyOf] one of { $value }
   *[isNoneOf] none of { $value }
}
policy-days = { $count ->
    [one] { $count } day
   *[other] { $count } days
}
policy-hours = { $count ->
    [one] { $count } hour
   *[other] { $count } hours
}
policy-minutes = { $count ->
    [one] { $count } minute
   *[other] { $count } minutes
}
policy-seconds = { $count ->
    [one] { $count } second
   *[other] { $count } seconds
}
admin-new-licence = Add a development-use licence
admin-new-licence-hint = Its policy must be an ODRL policy within the supported subset: permissions and prohibitions of use, with constraints on purpose, time and counts.
admin-licence-id = Identifier
admin-licence-url = Address of the licence text
admin-create-licence = Add the licence
admin-policy-json = The policy is not valid JSON
admin-policy-rejected = The policy is outside the supported ODRL subset at
admin-licence-invalid-id = Use 1 to 64 letters, digits, hyphens and dots
admin-licence-invalid-title = Enter the title
admin-licence-invalid-url = Enter an http or https address
admin-licence-taken = A licence with this identifier exists.
request-withdraw = Withdraw

## Rows of tabular files (the data services)
file-rows = Rows
rows-none = Not loaded
rows-running = Loading
rows-ready = Queryable
rows-failed = Failed
rows-loaded = { $count ->
    [one] { $rows } row
   *[other] { $rows } rows
}
rows-rejected = { $rows ->
    [one] 1 row rejected
   *[other] { $rows } rows rejected
}
rows-progress = Bytes of the file read
rows-loading-hint = A file is being loaded into a table; its rows can be queried once it is done.
rows-refresh = Refresh
rows-columns-of = Columns of “{ $file }”
rows-column = Column
rows-type = Type
rows-sensitive = Sensitive
rows-indexed = Indexed
rows-yes = Yes
rows-no = No
rows-type-string = Text
rows-type-integer = Integer
rows-type-number = Number
rows-type-boolean = Yes/no
rows-type-date = Date
rows-type-datetime = Date and time
rows-rejects = Rows not loaded
rows-reject-line = Row { $row }: { $reason }
rows-api-hint = Consumers read these rows, with their column rights, through
offer-rows = Most rows
offer-rows-hint = Rows a grant may read through the data API; empty for no limit.
columns-title = Columns a grant's holder receives
columns-hint = For each column of the loaded tables: delivered as it is, replaced by a keyed hash (rows join within one grant, never across grants), only its last characters, only its month, or left out. Columns marked sensitive are left out unless you choose otherwise.
columns-delivered = Delivered
columns-characters = Characters kept
columns-characters-of = Characters of “{ $column }” kept
columns-plain = As it is
columns-hash = Keyed hash
columns-keep-last = Last characters only
columns-month = Month only
columns-drop = Left out
columns-invalid = These column rules cannot be saved: choose one rule per column
columns-characters-invalid = Keep 1 to 16 characters
gateway-add = Add a live API
gateway-title-hint = What consumers see, e.g. “Bus positions, live”.
gateway-access-url = Address of the service
gateway-access-url-hint = Its public documentation or endpoint, https; where calls go is set in its gateway once it is added.
gateway-add-submit = Add the API
gateway-title-missing = Give the API a title
gateway-access-url-invalid = Enter an http or https address
gateway-of = Gateway of “{ $file }”
gateway-configured = Forwarding
gateway-forwards-to = Calls go to
gateway-circuit-closed = Answering
gateway-circuit-open = Held off
gateway-circuit-open-hint = It failed five times in a row: calls are answered 503 at once, without reaching it, until the pause is over and it answers a probe.
gateway-circuit-half-open = Probing
gateway-circuit-half-open-hint = The pause after its failures is over: the next call tests whether it answers again.
gateway-load = { $running } of the { $here } calls this server forwards at once are running ({ $max } for the platform, shared out among its servers).
gateway-not-configured = Not configured
gateway-not-configured-hint = Calls are refused until you say where they go.
gateway-credential-kept = A credential ({ $kind }) entered on { $date } is held by PDX; it is never shown again.
gateway-call-hint = Consumers call it with their token and purpose at
gateway-base-url = Upstream base address
gateway-base-url-hint = The agency's service, http or https, without user, password, query or fragment. Calls to …/api/path go to this address followed by path.
gateway-credential = Credential PDX presents upstream
gateway-credential-hint = Held encrypted by PDX and never shown again. Enter a new one to replace it.
gateway-credential-kind = Kind
gateway-credential-keep = Keep the credential held ({ $kind })
gateway-credential-none = None
gateway-credential-header = A header
gateway-credential-bearer = A bearer token
gateway-credential-basic = A user name and password
gateway-credential-query = A query parameter
gateway-credential-name = Header or parameter name
gateway-credential-username = User name (for a user name and password)
gateway-credential-secret = Secret (the value, token or password)
gateway-credential-invalid = This credential is incomplete: choose its kind, and give its name and secret where it has them
gateway-methods = Methods allowed
gateway-methods-invalid = Allow at least one method
gateway-paths = Paths allowed
gateway-paths-hint = One pattern a line below the base address: * is one part of a path, ** any number; /** allows everything.
gateway-paths-invalid = Each line must be a path pattern starting with /
gateway-timeout = Time the upstream may take (ms)
gateway-timeout-invalid = Enter milliseconds within the allowed range
gateway-concurrency = Calls at once
gateway-concurrency-hint = For the whole platform: the servers running share it out, each forwarding at most its part.
gateway-concurrency-invalid = Enter a number of calls within the allowed range
gateway-url-invalid = Enter the service's http or https address, without user, password, query or fragment, outside private networks unless this installation allows them
gateway-save = Save the gateway
gateway-remove = Stop forwarding

# A table's rows in the browser
table-title = Rows of “{ $file }”
table-lead = The rows of this file as a table, with the columns your access shows. Each page you look at is a data request written to the circulation ledger, like a download.
table-search = Find text in the rows
table-search-button = Find
table-filters = Filters
table-filter-remove = Remove
table-filter-column = Column
table-filter-op = Condition
table-filter-value = Value
table-filter-add = Add the filter
table-filter-hint = For “is one of”, separate the values with commas. Dates are written 2026-12-31.
table-filter-hint-times = For “is one of”, separate the values with commas. Dates are written 2026-12-31; dates and times 2026-12-31T08:30:00, or with their offset, 2026-12-31T08:30:00+08:00.
table-op-eq = is
table-op-ne = is not
table-op-lt = is less than
table-op-lte = is at most
table-op-gt = is greater than
table-op-gte = is at least
table-op-in = is one of
table-op-null = has no value
table-op-notnull = has a value
table-caption = Rows of the file
table-sort = (sort by this column)
table-mask-hash = hashed
table-mask-keep_last = partly masked
table-mask-month = month only
table-no-rows = No row matches.
table-shown = { $count ->
    [one] { $count } row shown.
   *[other] { $count } rows shown.
}
table-receipt = Logged as ledger entry #{ $seq }.
table-pages = Pages of rows
table-first = First rows
table-next = Next rows
table-not-loaded = The rows of this file are not loaded yet. Try again in a moment.
table-bad-query = That search, filter or sort cannot be done on this table. Check the column and the value, and try again.
table-too-slow = That search took too long. Try more specific words.
table-busy = Too many people are reading tables right now. Try again in a moment.
table-api-hint = The same rows, with filters, sorting, paging and CSV or NDJSON output, from the data API:
table-csv = These rows as CSV
get-granted-table = Or read a loaded file's rows here, with the columns your grant allows:
table-purpose = Read for the purpose: { $purpose }.
table-view = View the rows
limited-title = Too many requests
limited-detail = Too many data requests have come from your address in the last minute. Wait a moment and try again.
refused-sign-in = This data is for organisations that hold a grant for it: sign in to see whether yours may request it.
