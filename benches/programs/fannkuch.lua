-- Fannkuch-redux (the Benchmarks Game algorithm), as
-- benches/programs/fannkuch.kasm: prints the checksum and the most flips.
local function count_flips(n, perm1, perm)
  for i = 0, n - 1 do perm[i] = perm1[i] end
  local flips = 0
  local k = perm[0]
  while k ~= 0 do
    local i, j = 0, k
    while i < j do
      perm[i], perm[j] = perm[j], perm[i]
      i, j = i + 1, j - 1
    end
    flips = flips + 1
    k = perm[0]
  end
  return flips
end

local function fannkuch(n)
  local perm1, perm, count = {}, {}, {}
  for i = 0, n - 1 do perm1[i], perm[i], count[i] = i, 0, 0 end
  local r, max_flips, checksum, perm_count = n, 0, 0, 0
  while true do
    while r ~= 1 do
      count[r - 1] = r
      r = r - 1
    end
    local flips = count_flips(n, perm1, perm)
    if flips > max_flips then max_flips = flips end
    if perm_count % 2 == 0 then checksum = checksum + flips else checksum = checksum - flips end
    while true do
      if r == n then
        print(checksum)
        print("Pfannkuchen(" .. n .. ") = " .. max_flips)
        return
      end
      local perm0 = perm1[0]
      for i = 0, r - 1 do perm1[i] = perm1[i + 1] end
      perm1[r] = perm0
      count[r] = count[r] - 1
      if count[r] > 0 then break end
      r = r + 1
    end
    perm_count = perm_count + 1
  end
end

fannkuch(tonumber(arg and arg[1]) or 10)
