-- hogs.lua: what the resource repairs share (use("hogs")): their
-- arguments, user space's processes as one batch of rows, the families
-- they form, and killing a whole process.
local M = {}

M.PF_EXITING = 0x00000004
M.PF_KTHREAD = 0x00200000
M.TIF_SIGPENDING = 2
M.SIGNAL_UNKILLABLE = 0x40
-- kill() needs these; a script adds its own.
M.needs = {
  "task_struct.pid", "task_struct.tgid", "task_struct.start_time",
  "task_struct.flags", "task_struct.pending", "task_struct.thread_info",
  "task_struct.signal", "task_struct.__state", "task_struct.exit_state",
  "signal_struct.flags", "sigpending.signal", "thread_info.flags",
}

function M.needing(more)
  local all = {}
  for _, n in ipairs(M.needs) do all[#all + 1] = n end
  for _, n in ipairs(more or {}) do all[#all + 1] = n end
  return all
end

-- NAME=N arguments (a bare number is pid=N) as integers, only the names
-- in keys.
function M.args(args, usage, keys)
  local o = {}
  for _, a in ipairs(args) do
    local k, v = a:match("^(%a[%w_]*)=(%d+)$")
    if not k then
      v = a:match("^(%d+)$")
      k = v and "pid"
    end
    if not k or not keys[k] then error("usage: " .. usage) end
    o[k] = math.tointeger(tonumber(v)) or error("usage: " .. usage)
  end
  return o
end

-- Killed, not yet dead: exiting already, or SIGKILL pending in the
-- thread's own set and TIF_SIGPENDING set, so that it dies at its next
-- return to user mode. SIGKILL pending without the flag is half a kill (a
-- repair stopped between the two writes): it needs the flag still. From
-- the row when ps read it (a read per task otherwise).
function M.killed(row)
  if row.flags & M.PF_EXITING ~= 0 then return true end
  local set = row.sigpending or row.task.pending.signal.sig[0]
  local ti = row.ti_flags or row.task.thread_info.flags
  return (set >> 8) & 1 == 1 and (ti >> M.TIF_SIGPENDING) & 1 == 1
end

-- User space's live processes by tgid: { tgid, ppid, comm, rss, start
-- (ns after boot), threads }.
-- Init and kernel threads are never among them.
function M.processes()
  local by = {}
  for _, r in ipairs(kernel.ps()) do
    if r.flags & M.PF_KTHREAD == 0 and r.tgid > 1 and r.exit_state == 0 then
      local p = by[r.tgid]
      if not p then
        p = { tgid = r.tgid, threads = {} }
        by[r.tgid] = p
      end
      p.threads[#p.threads + 1] = r
      if r.pid == r.tgid or not p.comm then
        p.ppid, p.comm, p.rss, p.start = r.ppid, r.comm, r.rss, r.start_time
      end
    end
  end
  return by
end

-- Each process's children, by tgid.
function M.children(procs)
  local c = {}
  for tgid, p in pairs(procs) do
    c[p.ppid] = c[p.ppid] or {}
    table.insert(c[p.ppid], tgid)
  end
  return c
end

-- root and the processes below it, a set of tgids. Breadth first with a
-- visited set, since parent links read from memory may form a loop.
function M.family(procs, root, children)
  children = children or M.children(procs)
  local set, queue, head = { [root] = true }, { root }, 1
  while queue[head] do
    for _, c in ipairs(children[queue[head]] or {}) do
      if not set[c] then
        set[c] = true
        queue[#queue + 1] = c
      end
    end
    head = head + 1
  end
  return set
end

-- Victims are kept as tgid -> start time: a repair plans again and again,
-- and a pid freed by a victim that died may be a new process's by then.
function M.pin(set, procs)
  local pinned = {}
  for tgid in pairs(set) do
    if procs[tgid] then pinned[tgid] = procs[tgid].start end
  end
  return pinned
end

-- Whether process p (a row of M.processes()) is the one pinned in set.
function M.is(set, p)
  return p ~= nil and set[p.tgid] ~= nil and set[p.tgid] == p.start
end

-- The largest family of processes sharing a command name (a bomb, a hog
-- that forked): its root is the one whose parent runs something else.
-- The set holds only the members that share the name, pinned.
function M.largest_family(procs)
  local children = M.children(procs)
  local best, best_n, best_comm = nil, 0, nil
  for tgid, p in pairs(procs) do
    local parent = procs[p.ppid]
    if not parent or parent.comm ~= p.comm then
      local set, n = {}, 0
      for m in pairs(M.family(procs, tgid, children)) do
        if procs[m] and procs[m].comm == p.comm then
          set[m] = true
          n = n + 1
        end
      end
      if n > best_n then best, best_n, best_comm = set, n, p.comm end
    end
  end
  return best and M.pin(best, procs), best_n, best_comm
end

-- The members of a hog that forked: root (o.root) and everything below
-- it, or the largest family sharing a name if it has at least min; what
-- names the hog in the error. The set, pinned, and the root's name.
function M.find_family(o, procs, min, what)
  if o.root then
    if not procs[o.root] then error("no process " .. o.root) end
    return M.pin(M.family(procs, o.root), procs), procs[o.root].comm
  end
  local set, n, comm = M.largest_family(procs)
  if n < min then
    error("no " .. what .. ": the largest family sharing a name has " .. n ..
          " process(es)" .. (comm and (" (" .. comm .. ")") or ""))
  end
  return set, comm
end

-- Kill every thread of process p not already killed; how many threads
-- were left to act (asleep ones die only when woken). A plan that is full
-- leaves the rest for the next round: M.full says so, and M.verdict asks
-- for that round at once.
function M.kill_process(p, why)
  local n = 0
  for _, r in ipairs(p.threads) do
    if not M.killed(r) then
      if not kill(r.task, why) then
        if not M.full then note("the plan is full: the rest are killed in the next round") end
        M.full = true
        return n
      end
      n = n + 1
    end
  end
  return n
end

-- The processes of set (pinned) still alive in procs (from M.processes()): how
-- many run on, and how many are asleep with SIGKILL pending (dying when
-- something wakes them).
function M.survivors(set, procs)
  local running, asleep = 0, 0
  for _, p in pairs(procs) do
    if M.is(set, p) then
      local r = p.threads[1]
      if M.killed(r) and r.state ~= 0 then
        asleep = asleep + 1
      else
        running = running + 1
      end
    end
  end
  return running, asleep
end

-- verify()'s answer for a set of victims, as procs shows them.
function M.verdict(set, what, procs)
  local running, asleep = M.survivors(set, procs)
  if running > 0 and M.full then
    M.full = false
    return "again", running .. " " .. what .. " process(es) left for the next round"
  end
  if running > 0 then return false, running .. " " .. what .. " process(es) still run" end
  if asleep > 0 then
    return "pending", asleep .. " " .. what ..
           " process(es) asleep, SIGKILL pending until woken"
  end
  return true, "every " .. what .. " process has exited"
end

return M
