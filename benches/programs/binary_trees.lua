-- The Benchmarks Game binary-trees, same algorithm as examples/binary_trees.kasm.
local function make(d)
  if d > 0 then return { make(d - 1), make(d - 1) } end
  return { false, false }
end
local function check(t)
  if t[1] then return 1 + check(t[1]) + check(t[2]) end
  return 1
end
local n = tonumber(arg and arg[1]) or 10
local min_depth = 4
local max_depth = math.max(min_depth + 2, n)
io.write("stretch tree of depth ", max_depth + 1, "\t check: ", check(make(max_depth + 1)), "\n")
local long_lived = make(max_depth)
for depth = min_depth, max_depth, 2 do
  local iters = math.floor(2 ^ (max_depth - depth + min_depth))
  local sum = 0
  for _ = 1, iters do sum = sum + check(make(depth)) end
  io.write(iters, "\t trees of depth ", depth, "\t check: ", sum, "\n")
end
io.write("long lived tree of depth ", max_depth, "\t check: ", check(long_lived), "\n")
