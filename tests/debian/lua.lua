-- lua5.4: strings, tables, closures, coroutines, metatables, integer/float, string.format,
-- pcall/error, io.write, os.time/os.date on a fixed time, a file in /tmp.
local t = {}
for i = 1, 10 do t[#t + 1] = i * i end
print(table.concat(t, ","))
local function counter() local n = 0; return function() n = n + 1; return n end end
local c = counter(); c(); c()
print("counter", c())
local co = coroutine.create(function(a, b)
  local x = coroutine.yield(a + b)
  local y = coroutine.yield(x * 2)
  return y - 1
end)
print(coroutine.resume(co, 1, 2)); print(coroutine.resume(co, 10)); print(coroutine.resume(co, 5))
print(coroutine.status(co))
local V = setmetatable({}, {__index = function(_, k) return k .. "!" end})
print(V.hello, rawget(V, "hello"))
print(7 // 2, 7 / 2, 2^10, math.type(1), math.type(1.0), 0x7fffffffffffffff + 1 == math.mininteger)
print(string.format("%5.2f|%-5s|%05d|%x", math.pi, "ab", 42, 255))
print(("hello world"):gsub("o", "0"), ("a,b,,c"):find(",,"), ("Lua"):rep(3, "-"))
for w in ("one two  three"):gmatch("%a+") do io.write(w, ";") end io.write("\n")
print((select(2, pcall(error, {code = 7}))).code)
print(select("#", pcall(error, "boom")), (select(2, pcall(error, "boom", 0))))
print(os.date("!%Y-%m-%d %H:%M:%S", 86400 * 365))
local name = os.tmpname()
local f = assert(io.open(name, "w")); f:write("line1\nline2\n"); f:close()
local n = 0; for _ in io.lines(name) do n = n + 1 end
print("lines", n); os.remove(name)
print(io.open(name) == nil)
local keys = {}; for k in pairs({b = 1, a = 2, c = 3}) do keys[#keys + 1] = k end
table.sort(keys); print(table.concat(keys))
print(utf8.char(72, 228, 8364), utf8.len("häll€"))
