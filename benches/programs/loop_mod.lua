-- The issue 12 loop: s += (i*31 + 7) % 1009 for i in 0..n-1.
local n = tonumber(arg and arg[1]) or 100000000
local s = 0
for i = 0, n - 1 do s = s + (i * 31 + 7) % 1009 end
print(s)
