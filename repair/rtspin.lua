-- rtspin.lua [PID]: end a real-time spinner that starves a CPU by killing
-- it; without PID, every user-space SCHED_FIFO or SCHED_RR task that is on
-- a CPU right now (the one watch names in its soft-lockup evidence).
--
-- What it changes: what kill() changes, SIGKILL in each such thread's own
-- pending set and TIF_SIGPENDING in its flags; the spinner meets them at
-- its next return to user mode, which a timer interrupt gives it even while
-- it starves everything else on its CPU.
--
-- Why that is safe: the task's scheduling class is never touched (changing
-- the class of a queued task under the runqueue's feet is not something a
-- remote CAS can do safely), and RT throttling is not restored by writing
-- sched_rt_runtime_us, whose handler also updates every runqueue. Kernel
-- threads (the migration and watchdog threads are SCHED_FIFO too) are never
-- chosen; kill() refuses init and unkillable tasks.
needs = {
  "task_struct.pid", "task_struct.tgid", "task_struct.start_time",
  "task_struct.flags", "task_struct.policy", "task_struct.on_cpu",
  "task_struct.pending", "task_struct.thread_info", "task_struct.signal",
  "task_struct.__state", "task_struct.exit_state", "signal_struct.flags",
  "sigpending.signal", "thread_info.flags",
}

local SCHED_FIFO, SCHED_RR = 1, 2
local PF_KTHREAD = 0x00200000

local function spinners(args)
  local want = args[1] and math.tointeger(tonumber(args[1]))
  if args[1] and not want then error("usage: rtspin.lua [PID]") end
  local found = {}
  for _, r in ipairs(kernel.ps()) do
    if (r.policy == SCHED_FIFO or r.policy == SCHED_RR) and r.flags & PF_KTHREAD == 0
        and r.exit_state == 0 then
      if (want and r.tgid == want) or (not want and r.on_cpu ~= 0) then
        found[#found + 1] = r
      end
    end
  end
  return found
end

function plan(args)
  local found = spinners(args)
  if #found == 0 then
    error("no real-time task of user space " ..
          (args[1] and ("with pid " .. args[1]) or "is on a CPU"))
  end
  for _, r in ipairs(found) do
    kill(r.task, "a real-time spinner (policy " .. r.policy .. ")")
  end
end

function verify(args)
  local left = #spinners(args)
  if left == 0 then return true, "no real-time spinner left" end
  return false, left .. " real-time task(s) still on a CPU"
end
