-- Catalog searches as varied as real visitors' for wrk: a subject in English or Chinese, words or
-- phrases from the seeded catalog (seeding.rs), sometimes a place in the same language, sometimes
-- a format or theme facet, and a page from 1 to 40. Every path is a valid search; most miss the
-- server's answer cache. By hand: wrk -t2 -c64 -d10s --latency -s varied_search.lua URL

-- Subjects with the theme the seeder gives them (the theme facet a visitor would pick).
local subjects = {
  en = {
    { "bus stops", "TRAN" }, { "bus", "TRAN" }, { "traffic flow", "TRAN" },
    { "traffic", "TRAN" }, { "parking", "TRAN" },
    { "air quality", "ENVI" }, { "air", "ENVI" }, { "quality", "ENVI" },
    { "water quality", "ENVI" }, { "water", "ENVI" }, { "noise", "ENVI" },
    { "charging piles", "ENER" }, { "charging", "ENER" },
    { "energy consumption", "ENER" }, { "energy", "ENER" },
    { "base stations", "TECH" }, { "hospital beds", "HEAL" }, { "hospital", "HEAL" },
    { "business registrations", "ECON" }, { "business", "ECON" },
    { "schools", "EDUC" }, { "population", "SOCI" },
    { "farm prices", "AGRI" }, { "prices", "AGRI" },
    { "public safety", "JUST" }, { "budget", "GOVE" },
  },
  zh = {
    { "公交站点", "TRAN" }, { "公交", "TRAN" }, { "交通流量", "TRAN" },
    { "交通", "TRAN" }, { "停车场", "TRAN" }, { "停车", "TRAN" },
    { "空气质量", "ENVI" }, { "空气", "ENVI" }, { "水质", "ENVI" }, { "噪声", "ENVI" },
    { "充电桩", "ENER" }, { "充电", "ENER" }, { "能源消费", "ENER" }, { "能源", "ENER" },
    { "基站", "TECH" }, { "医院床位", "HEAL" }, { "医院", "HEAL" },
    { "企业登记", "ECON" }, { "企业", "ECON" }, { "学校", "EDUC" }, { "人口", "SOCI" },
    { "农产品价格", "AGRI" }, { "农产品", "AGRI" },
    { "治安案件", "JUST" }, { "治安", "JUST" }, { "财政预算", "GOVE" }, { "预算", "GOVE" },
  },
}

-- Shenzhen's districts, as the seeder names them in each language.
local places = {
  en = {
    "Futian", "Luohu", "Nanshan", "Bao'an", "Longgang",
    "Longhua", "Yantian", "Pingshan", "Guangming", "Dapeng",
  },
  zh = {
    "福田区", "罗湖区", "南山区", "宝安区", "龙岗区",
    "龙华区", "盐田区", "坪山区", "光明区", "大鹏新区",
  },
}

local formats = { "CSV", "JSON", "GeoJSON", "XLSX" }

local languages = { "en", "zh" }

local pages = 40

-- Percent-encodes everything but unreserved ASCII: the Chinese as UTF-8 bytes, spaces as %20.
local function encode(text)
  return (text:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

for _, language in ipairs(languages) do
  for _, subject in ipairs(subjects[language]) do
    subject[1] = encode(subject[1])
  end
  for i, place in ipairs(places[language]) do
    places[language][i] = encode(place)
  end
end

local function pick(list)
  return list[math.random(#list)]
end

-- Each thread seeds its own generator from the kernel: LuaJIT starts every thread's state with
-- the same seed, and the clock's seconds would not tell two threads or two runs apart.
function init(args)
  local urandom = assert(io.open("/dev/urandom", "rb"))
  local a, b, c, d = urandom:read(4):byte(1, 4)
  urandom:close()
  math.randomseed(((a * 256 + b) * 256 + c) * 256 + d)
end

function request()
  local language = pick(languages)
  local subject = pick(subjects[language])
  local q = subject[1]
  if math.random(2) == 1 then
    q = q .. "%20" .. pick(places[language])
  end
  local path = "/api/v1/datasets?q=" .. q
  local facet = math.random(4)
  if facet == 1 then
    path = path .. "&format=" .. pick(formats)
  elseif facet == 2 then
    path = path .. "&theme=" .. subject[2]
  end
  path = path .. "&page=" .. math.random(pages)
  return wrk.format(nil, path)
end
