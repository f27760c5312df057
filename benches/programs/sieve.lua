-- Sieve of Eratosthenes below n, same algorithm as examples/sieve.kasm.
local n = tonumber(arg and arg[1]) or 10000000
local flags = {}
for i = 0, n - 1 do flags[i] = 1 end
local i = 2
while i * i < n do
  if flags[i] ~= 0 then
    local j = i * i
    while j < n do flags[j] = 0; j = j + i end
  end
  i = i + 1
end
local count = 0
for k = 2, n - 1 do count = count + flags[k] end
print(count)
