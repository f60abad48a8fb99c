-- unlock.lua LOCK: release a spinlock that kernel code took and never
-- released (a leak), while its waiters spin: LOCK is a symbol of type
-- spinlock_t/qspinlock, the kernel's or a loaded module's (NAME, or
-- MODULE:NAME as kprobes take it: the lab's bdfault_leak is bdfault.ko's),
-- or (with --raw) its address. Only with --force.
--
-- What it changes: the qspinlock's locked byte, from 1 to 0, by a
-- compare-and-swap of its aligned word that keeps the pending bit and the
-- tail (the queue of waiters) as read. The first waiter then takes the lock
-- as if its owner had released it.
--
-- Why it needs --force: Debian's kernel records no lock owner, so memory
-- cannot prove the lock leaked rather than being held for a while by a CPU
-- that will release it; releasing a lock that is really held lets two CPUs
-- into its critical section. The operator says it is a leak. A locked byte
-- of 3 (_Q_SLOW_VAL) belongs to a paravirt lock whose holder is queued
-- differently: refused. Never from a watch policy.
needs = { "qspinlock.locked", "qspinlock.pending", "qspinlock.tail" }

local Q_SLOW_VAL = 3

local function the_lock(args)
  local where = args[1] or error("usage: unlock.lua [MODULE:]SYMBOL|ADDR")
  local addr = math.tointeger(tonumber(where))
  if addr then return kernel.object("qspinlock", addr), where end
  -- Typed here, not by BTF: vmlinux's BTF describes no module variable,
  -- and a spinlock_t begins with its qspinlock.
  return kernel.sym(where, "qspinlock"), where
end

function plan(args)
  if not options.force then
    error("a leaked lock cannot be proven from memory (no owner is recorded): " ..
          "unlock only with --force")
  end
  local lock, name = the_lock(args)
  local locked = lock.locked
  if locked == Q_SLOW_VAL then
    error(name .. ": locked byte is _Q_SLOW_VAL (3), a paravirt lock's: not released")
  end
  if locked ~= 1 then
    error(name .. ": not held (locked byte " .. locked .. ")")
  end
  note(name .. ": pending " .. lock.pending .. ", tail 0x" ..
       string.format("%x", lock.tail) .. " kept")
  cas(lock, "locked", 1, 0, "release the leaked lock for its waiters")
end

function verify(args)
  local lock = the_lock(args)
  -- A waiter that got the lock clears pending; then it releases it.
  if lock.locked == 1 and lock.pending == 1 then
    return false, "held, a waiter still pending"
  end
  return true, "released: locked " .. lock.locked .. ", pending " .. lock.pending
end
