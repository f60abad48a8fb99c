-- forkbomb.lua [root=PID] [restore=N]: stop a fork bomb, kill it, and
-- give the machine its threads back.
--
-- What it changes: first max_threads, lowered by compare-and-swap to a
-- little above the threads outside the bomb, so that no fork succeeds
-- until the bomb is gone (a limit just above the current count would let
-- every member that dies be replaced by a fork of one still alive); then
-- every thread of every member, killed as kill.lua does (SIGKILL into the
-- thread's own pending set, then TIF_SIGPENDING). Once no member runs, a
-- second plan puts max_threads back: to restore=N (the value before the
-- fault, which watch records), else to the value it had when this repair
-- began.
--
-- Why that is safe: max_threads is an int the kernel only reads
-- (copy_process compares nr_threads with it; only its sysctl writes it),
-- so a CAS against the value read races nothing. A fork refused meanwhile
-- fails with EAGAIN, which every caller of fork must handle. Root ignores
-- RLIMIT_NPROC, so max_threads is the one limit that holds every bomb.
-- The bomb is root=PID and every process below it, or else the largest
-- family of processes sharing a command name, if it has at least 16. With
-- restore=N and no bomb left, only max_threads is put back.
local hogs = use("hogs")
needs = hogs.needing()

local MIN_MEMBERS = 16
local MARGIN = 32 -- threads outside the bomb may still start this many
local USAGE = "forkbomb.lua [root=PID] [restore=N]"

local first_max -- max_threads when this run began
local bomb, bomb_comm -- the members found (tgid -> start time), and their name
local bomb_start -- when the first of them started

-- Children a member forked since the bomb was found belong to it too, and
-- so do the orphans a dead member left: the kernel hands them to init (or
-- a subreaper), under the bomb's name, started after the bomb was.
local function grow(o, procs)
  if not o.root and not bomb_comm then return end
  local changed = true
  while changed do
    changed = false
    for tgid, p in pairs(procs) do
      local orphan = not procs[p.ppid] or p.ppid == 1 or procs[p.ppid].comm ~= bomb_comm
      if not hogs.is(bomb, p) and (o.root or p.comm == bomb_comm) and
          (hogs.is(bomb, procs[p.ppid]) or
           (orphan and p.comm == bomb_comm and p.start >= bomb_start)) then
        bomb[tgid] = p.start
        changed = true
      end
    end
  end
end

local function max_threads()
  local max = kernel.sym("max_threads", "int")
  return max, kernel.value(max)
end

-- The arguments and user space now, the bomb found (once) and grown.
local function now(args)
  local o = hogs.args(args, USAGE, { root = true, restore = true })
  local procs = hogs.processes()
  if not bomb then
    local found, set, comm = pcall(hogs.find_family, o, procs, MIN_MEMBERS, "fork bomb")
    if found then
      bomb, bomb_comm = set, comm
    elseif o.restore then
      -- No bomb left (an earlier run killed it and stopped short):
      -- max_threads may still be low, and only putting it back is left.
      bomb = {}
    else
      error(set, 0)
    end
    for _, start in pairs(bomb) do
      bomb_start = math.min(bomb_start or start, start)
    end
  end
  grow(o, procs)
  return o, procs
end

function plan(args)
  local o, procs = now(args)
  local max, max_now = max_threads()
  first_max = first_max or max_now
  local bomb_threads, live = 0, {}
  for tgid in pairs(bomb) do
    local p = procs[tgid]
    if hogs.is(bomb, p) then
      bomb_threads = bomb_threads + #p.threads
      live[#live + 1] = p
    end
  end
  local killing = 0
  for _, p in ipairs(live) do
    for _, r in ipairs(p.threads) do
      if not hogs.killed(r) then killing = killing + 1 end
    end
  end
  if killing > 0 then
    local cap = kernel.value(kernel.sym("nr_threads", "int")) - bomb_threads + MARGIN
    if max_now > cap then
      cas(max, "", max_now, cap, "no fork succeeds until the bomb (" .. bomb_threads ..
          " threads) is gone")
    end
    for _, p in ipairs(live) do
      hogs.kill_process(p, "a member of the fork bomb")
    end
    note(#live .. " member(s) of the fork bomb (" .. bomb_comm .. "), " .. killing ..
         " thread(s) to kill")
    return
  end
  local restore = o.restore or first_max
  if max_now ~= restore then
    cas(max, "", max_now, restore, "the bomb is gone: max_threads as before the fault")
  end
end

function verify(args)
  local o, procs = now(args)
  local ok, why = hogs.verdict(bomb, "fork bomb", procs)
  if ok == false then return ok, why end
  local restore = o.restore or first_max
  if restore and select(2, max_threads()) ~= restore then
    return "again", "the bomb is stopped; max_threads to put back to " .. restore
  end
  return ok, why
end
