-- files.lua [min=N]: kill the processes that hold the open files.
--
-- What it changes: what kill.lua changes (SIGKILL into each thread's own
-- pending set, then TIF_SIGPENDING) for every process with at least N
-- files open (default 100), counted from the bitmap of open descriptors
-- in its file table. Its files are closed when it exits.
--
-- Why that is safe and why this way: kill()'s guards keep a reused
-- task_struct from being hit, and it refuses init, kernel threads and
-- unkillable tasks. Raising files_stat.max_files gives headroom but
-- repairs nothing (and root bypasses max_files anyway). A holder asleep
-- (in pause(), say) keeps its files until something wakes it: it is
-- reported as pending until woken.
local hogs = use("hogs")
needs = hogs.needing({ "task_struct.files", "files_struct.fdt", "fdtable.max_fds",
                       "fdtable.open_fds" })

local USAGE = "files.lua [min=N]"
local MAX_WORDS = 16384 -- sysctl_nr_open's ceiling, 1 << 20 descriptors
local holders, held -- pinned, and how many files each held

local function bits(w)
  local n = 0
  while w ~= 0 do
    w = w & (w - 1)
    n = n + 1
  end
  return n
end

-- How many descriptors process p has open.
local function open_files(p)
  local files = p.threads[1].task.files
  if not files then return 0 end
  local fdt = files.fdt
  local words = math.min((fdt.max_fds + 63) // 64, MAX_WORDS)
  local fds = fdt.open_fds
  local n = 0
  for i = 0, words - 1 do n = n + bits(fds[i]) end
  return n
end

local function find(args, procs)
  local o = hogs.args(args, USAGE, { min = true })
  local min = o.min or 100
  holders, held = {}, {}
  local found = 0
  for tgid, p in pairs(procs) do
    local n = open_files(p)
    if n >= min then
      holders[tgid], held[tgid] = p.start, n
      found = found + 1
    end
  end
  if found == 0 then error("no process holds " .. min .. " open files") end
end

function plan(args)
  local procs = hogs.processes()
  if not holders then find(args, procs) end
  for tgid, p in pairs(procs) do
    if hogs.is(holders, p) then hogs.kill_process(p, "holds " .. held[tgid] .. " open files") end
  end
end

function verify(args)
  local procs = hogs.processes()
  if not holders then find(args, procs) end
  return hogs.verdict(holders, "file-holding", procs)
end
