// Clang's thread-safety annotations, so that the locking rules are checked
// by the compiler instead of stated in prose: `scripts/sanitize tsa` builds
// with -Werror=thread-safety. They expand to nothing on other compilers.
// https://clang.llvm.org/docs/ThreadSafetyAnalysis.html
// Abseil's (gRPC's) headers define some of the same names with the same
// meaning; whichever comes first is kept.
//
//   Mutex mu_;
//   int n_ GUARDED_BY(mu_);            // read or written only with mu_ held
//   void step() REQUIRES(mu_);         // callers hold mu_
//   void poll() EXCLUDES(mu_);         // callers do not hold mu_ (it locks it)
#pragma once

#if defined(__clang__)
#define CASCADE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CASCADE_THREAD_ANNOTATION(x)
#endif

// A type that is a lock (util/mutex.h's Mutex).
#ifndef CAPABILITY
#define CAPABILITY(x) CASCADE_THREAD_ANNOTATION(capability(x))
#endif
// An RAII type that holds a lock for its scope (util/mutex.h's MutexLock).
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY CASCADE_THREAD_ANNOTATION(scoped_lockable)
#endif
// A member that may be touched only while holding the given lock.
#ifndef GUARDED_BY
#define GUARDED_BY(x) CASCADE_THREAD_ANNOTATION(guarded_by(x))
#endif
// A pointer member whose pointee may be touched only while holding the lock.
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) CASCADE_THREAD_ANNOTATION(pt_guarded_by(x))
#endif
// The function must be called with the lock(s) held.
#ifndef REQUIRES
#define REQUIRES(...) CASCADE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#endif
// The function must be called without the lock(s) held (it takes them).
#ifndef EXCLUDES
#define EXCLUDES(...) CASCADE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#endif
// The function takes / gives back the lock(s) (no argument: `this`).
#ifndef ACQUIRE
#define ACQUIRE(...) CASCADE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) CASCADE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#endif
// The function tells the analysis, without checking, that the lock is held.
#ifndef ASSERT_CAPABILITY
#define ASSERT_CAPABILITY(x) CASCADE_THREAD_ANNOTATION(assert_capability(x))
#endif
// The function returns a reference to the given lock.
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) CASCADE_THREAD_ANNOTATION(lock_returned(x))
#endif
// Turns the analysis off for one function; say why where it is used.
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS CASCADE_THREAD_ANNOTATION(no_thread_safety_analysis)
#endif
