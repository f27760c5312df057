-- The same loop written as a while loop, as benches/programs/loop.kasm is.
local n = tonumber(arg and arg[1]) or 100000000
local s, i = 0, 0
while i < n do s = s + i; i = i + 1 end
print(s)
