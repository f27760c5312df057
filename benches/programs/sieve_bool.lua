-- Sieve of Eratosthenes below n over a table of booleans, as
-- benches/programs/sieve_bool.kasm does over an array<bool>.
local n = tonumber(arg and arg[1]) or 10000000
local prime = {}
for i = 0, n - 1 do prime[i] = true end
local i = 2
while i * i < n do
  if prime[i] then
    for j = i * i, n - 1, i do prime[j] = false end
  end
  i = i + 1
end
local count = 0
for k = 2, n - 1 do
  if prime[k] then count = count + 1 end
end
print(count)
