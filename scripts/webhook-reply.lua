-- wrk script: every request is a distinct Smartlead EMAIL_REPLY webhook
-- (its own stats_id and message ids, a later reply time), shaped like the
-- reference payload (reference/smartlead-api.md, "EMAIL_REPLY").
--
--   wrk -t2 -c64 -d20s -s scripts/webhook-reply.lua URL -- MODE RUN
--
-- MODE: "spread" (leads from a window of 4,096) or "one" (every reply to one
--       lead, so one thread).
-- RUN:  a tag that keeps ids distinct across runs against one daemon.
-- The webhook secret is read from $OUTPOST_WEBHOOK_SECRET (never printed).

local next_thread = 0
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

local LEADS = 4096
local BASE_TIME = 1780000000 -- 2026-05-28, replies move forward one second each
local mode, run, secret
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  mode = args[1] or "spread"
  run = args[2] or "r1"
  secret = os.getenv("OUTPOST_WEBHOOK_SECRET") or ""
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%S.000Z", t)
end

function request()
  counter = counter + 1
  local lead = 0
  if mode ~= "one" then
    -- Two threads start half a window apart, so both walk all 4,096 leads.
    lead = (counter + tid * (LEADS / 2)) % LEADS
  end
  local uid = run .. "-t" .. tid .. "-" .. counter
  local email = "lead" .. lead .. "@ledgerly.example"
  local sent_at = iso(BASE_TIME + counter * 2)
  local reply_at = iso(BASE_TIME + counter * 2 + 1)
  local body = '{"event_type":"EMAIL_REPLY","webhook_id":799,"webhook_name":"outpost",'
    .. '"campaign_id":1764810,"campaign_name":"Q3 Fintech CFOs","campaign_status":"ACTIVE",'
    .. '"client_id":34998,"sequence_number":1,'
    .. '"sl_email_lead_id":"' .. (2995000000 + lead) .. '","sl_email_lead_map_id":' .. (2433000000 + lead) .. ','
    .. '"sl_lead_email":"' .. email .. '","stats_id":"' .. uid .. '","stats_thread_id":"thr-' .. lead .. '",'
    .. '"from_email":"sam@ledger-outreach.example","to_email":"' .. email .. '","to_name":"Dana Reyes","cc_emails":[],'
    .. '"subject":"Re: Dana, quick question","sent_message_body":"<p>Hi Dana,</p>",'
    .. '"sent_message":{"message_id":"<sent-' .. uid .. '@mail.ledger-outreach.example>","html":"<p>Hi Dana, worth a quick chat about closing the books faster?</p>",'
    .. '"text":"Hi Dana, worth a quick chat about closing the books faster?","time":"' .. sent_at .. '"},'
    .. '"message_id":"<reply-' .. uid .. '@mail.gmail.com>","reply_body":"<div>Sounds interesting, send times.</div>",'
    .. '"preview_text":"Sounds interesting, send times.",'
    .. '"reply_message":{"message_id":"<reply-' .. uid .. '@mail.gmail.com>","html":"<div>Sounds interesting, send times.</div>",'
    .. '"text":"Sounds interesting, send times.","time":"' .. reply_at .. '"},'
    .. '"time_replied":"' .. reply_at .. '","event_timestamp":"' .. reply_at .. '","reply_category":null,'
    .. '"leadCorrespondence":{"targetLeadEmail":"' .. email .. '","replyReceivedFrom":"' .. email .. '","repliedCompanyDomain":"SameCompany"},'
    .. '"secret_key":"' .. secret .. '",'
    .. '"app_url":"https://app.smartlead.ai/app/master-inbox?leadMap=' .. (2433000000 + lead) .. '",'
    .. '"description":"' .. email .. ' replied to Email 1 for campaign - Q3 Fintech CFOs",'
    .. '"metadata":{"webhook_created_at":"2025-05-30T10:00:00.000Z"}}'
  return wrk.format("POST", nil, headers, body)
end
