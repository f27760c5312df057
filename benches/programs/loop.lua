-- A 100M-iteration integer loop: sum of 0..n-1 (Lua's numeric for).
local n = tonumber(arg and arg[1]) or 100000000
local s = 0
for i = 0, n - 1 do s = s + i end
print(s)
