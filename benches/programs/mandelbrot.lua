-- Mandelbrot: an N x N grid over [-1.5, 0.5] x [-1, 1], at most 50
-- iterations a point; prints the points inside and the sum of the
-- iteration counts, as benches/programs/mandelbrot.kasm.
local function mandel(cr, ci)
  local zr, zi = 0.0, 0.0
  for i = 0, 49 do
    zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
    if zr * zr + zi * zi > 4.0 then return i end
  end
  return 50
end

local n = tonumber(arg and arg[1]) or 1000
local inside, total = 0, 0
for y = 0, n - 1 do
  local ci = 2.0 * y / n - 1.0
  for x = 0, n - 1 do
    local k = mandel(2.0 * x / n - 1.5, ci)
    total = total + k
    if k == 50 then inside = inside + 1 end
  end
end
print(inside)
print(total)
