-- The strings workload, as benches/programs/strings.kasm: a table of n string
-- keys to ints, then every key built again and looked up; prints the sum.
local n = tonumber(arg and arg[1]) or 1000000
local m = {}
for i = 0, n - 1 do m["k" .. i] = i end
local sum = 0
for i = 0, n - 1 do sum = sum + m["k" .. i] end
print(sum)
