//! The database writer's CPU priority while the dataflow runs: Linux's `SCHED_IDLE`, under
//! which a thread gets only CPU time no other thread wants and gives it up the moment a worker
//! wakes. Flows in: the calling thread; out: whether it now runs at idle priority.
//!
//! Coming back to normal priority needs `CAP_SYS_NICE` or an `RLIMIT_NICE` of at least 20
//! (sched(7)). A thread that could not come back would write the end of its run, after the
//! dataflow, at idle priority, starved on a busy machine; so [`enter`] first tries the round
//! trip on a throwaway thread and, when it fails, leaves the caller at normal priority.

/// Puts the calling thread at idle priority, if it can later [`leave`] it. Returns whether it
/// did (always `false` outside Linux).
pub(super) fn enter() -> bool {
    imp::can_return() && imp::set(imp::IDLE)
}

/// Puts the calling thread back at normal priority (after [`enter`] returned `true`).
pub(super) fn leave() {
    imp::set(imp::NORMAL);
}

/// The calling thread's id, for [`leave_thread`] (0 outside Linux).
pub(super) fn current_thread() -> i32 {
    imp::current_thread()
}

/// Puts thread `thread` of this process back at normal priority, from another thread: a
/// thread starved at idle priority on a busy machine could not do it itself in good time.
pub(super) fn leave_thread(thread: i32) {
    if thread != 0 {
        imp::set_thread(thread, imp::NORMAL);
    }
}

#[cfg(target_os = "linux")]
mod imp {
    pub(super) const IDLE: libc::c_int = libc::SCHED_IDLE;
    pub(super) const NORMAL: libc::c_int = libc::SCHED_OTHER;

    /// Sets the calling thread's scheduling policy (Linux applies it per thread).
    pub(super) fn set(policy: libc::c_int) -> bool {
        set_thread(0, policy)
    }

    /// Sets thread `thread`'s scheduling policy (0: the calling thread).
    pub(super) fn set_thread(thread: i32, policy: libc::c_int) -> bool {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid `sched_param`; a thread id that is gone fails with ESRCH.
        unsafe { libc::sched_setscheduler(thread, policy, &param) == 0 }
    }

    pub(super) fn current_thread() -> i32 {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// Whether a thread can go to idle priority and back.
    pub(super) fn can_return() -> bool {
        std::thread::spawn(|| set(IDLE) && set(NORMAL))
            .join()
            .unwrap_or(false)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) const IDLE: i32 = 0;
    pub(super) const NORMAL: i32 = 0;

    pub(super) fn set(_policy: i32) -> bool {
        false
    }

    pub(super) fn set_thread(_thread: i32, _policy: i32) -> bool {
        false
    }

    pub(super) fn current_thread() -> i32 {
        0
    }

    pub(super) fn can_return() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn another_thread_brings_an_idle_thread_back() {
        let (sender, receiver) = std::sync::mpsc::channel();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let idle = std::thread::spawn(move || {
            let entered = super::enter();
            sender.send((entered, super::current_thread())).unwrap();
            wait.recv().unwrap();
            #[cfg(target_os = "linux")]
            // SAFETY: pid 0 is the calling thread.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        });
        let (entered, thread) = receiver.recv().unwrap();
        if entered {
            super::leave_thread(thread);
        }
        done.send(()).unwrap();
        idle.join().unwrap();
    }

    #[test]
    fn a_thread_goes_to_idle_priority_and_back_or_stays_normal() {
        std::thread::spawn(|| {
            if super::enter() {
                super::leave();
            }
            #[cfg(target_os = "linux")]
            // SAFETY: pid 0 is the calling thread.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}
