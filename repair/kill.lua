-- kill.lua PID: SIGKILL every thread of process PID, without the help of
-- the target's CPUs.
--
-- What it changes: in each thread's task_struct, bit SIGKILL-1 of its own
-- pending set (task->pending, not the group's signal->shared_pending: the
-- fatal-signal checks and killable waits look at the thread's own set), then
-- TIF_SIGPENDING in thread_info.flags, in that order, since the kernel
-- clears the flag when it finds nothing pending. The thread acts on it at its
-- next return to user mode, as if the signal had been sent, and takes its
-- group down with it.
--
-- Why that is safe: both are bit-sets by compare-and-swap on words the
-- kernel itself sets bits in, made only while the thread's pid, tgid and
-- start time still read as planned, so a freed and reused task_struct is
-- never written. kill() refuses init, kernel threads and SIGNAL_UNKILLABLE
-- tasks. Writing bits wakes nobody: a thread asleep (in pause(), say) dies
-- only when something wakes it, and is reported as pending until woken.
needs = {
  "task_struct.pid", "task_struct.tgid", "task_struct.start_time",
  "task_struct.flags", "task_struct.pending", "task_struct.thread_info",
  "task_struct.signal", "task_struct.__state", "task_struct.exit_state",
  "signal_struct.flags", "sigpending.signal", "thread_info.flags",
}

local function pid_arg(args)
  local pid = math.tointeger(tonumber(args[1] or ""))
  if not pid or pid <= 0 then error("usage: kill.lua PID") end
  return pid
end

-- The victim's start time, from the first plan: a run plans again while
-- the victim lives, and its pid may be a new process's once it is gone.
local victim_start

function plan(args)
  local pid = pid_arg(args)
  local rows, leader = {}, nil
  for _, r in ipairs(kernel.ps()) do
    if r.tgid == pid then
      rows[#rows + 1] = r
      if r.pid == pid then leader = r end
    end
  end
  if not victim_start then
    if not leader then error("no process " .. pid) end
    victim_start = leader.start_time
  elseif not leader or leader.start_time ~= victim_start then
    note("process " .. pid .. " has exited")
    return
  end
  for _, r in ipairs(rows) do kill(r.task, "process " .. pid) end
  note(#rows .. " thread(s) of process " .. pid)
end

function verify(args)
  local pid = pid_arg(args)
  local t = kernel.task(pid)
  if not t or t.exit_state ~= 0 or (victim_start and t.start_time ~= victim_start) then
    return true, "process " .. pid .. " has exited"
  end
  local sigkill = (t.pending.signal.sig[0] >> 8) & 1
  if sigkill == 1 and t.__state ~= 0 then
    return "pending", "asleep with SIGKILL pending: it dies when something wakes it"
  end
  return false, "process " .. pid .. " still runs"
end
