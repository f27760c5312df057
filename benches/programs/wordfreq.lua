-- Word frequencies, as benches/programs/wordfreq.kasm: a text of N
-- pseudo-random words (1 to 4 syllables of 16, Park-Miller seeded with 42),
-- split on spaces and counted in a table.
local syllables = {"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "an", "el", "is", "or", "um", "ba", "de", "fu"}
local seed = 42

local function next_random()
  seed = seed * 16807 % 2147483647
  return seed
end

local function make_word()
  local k = next_random() % 4 + 1
  local w = ""
  for _ = 1, k do w = w .. syllables[next_random() % 16 + 1] end
  return w
end

local function make_text(n)
  local parts = {}
  for i = 1, n do parts[i] = make_word() end
  return table.concat(parts, " ")
end

local n = tonumber(arg and arg[1]) or 1000000
local text = make_text(n)
local counts, total, distinct = {}, 0, 0
for w in text:gmatch("%S+") do
  local c = counts[w]
  if c == nil then
    distinct = distinct + 1
    c = 0
  end
  counts[w] = c + 1
  total = total + 1
end
local best, best_word, squares = 0, "", 0
for w, c in pairs(counts) do
  squares = squares + c * c
  if c > best or (c == best and w < best_word) then best, best_word = c, w end
end
print("words " .. total)
print("distinct " .. distinct)
print("most frequent " .. best_word .. " " .. best)
print("sum of squared counts " .. squares)
