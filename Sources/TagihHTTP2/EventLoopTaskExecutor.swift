import NIOCore

/// A `TaskExecutor` that runs jobs on one NIO event loop.
///
/// `.deferred` handlers run as tasks that prefer the connection's event loop: the handler, and the default
/// actors it calls while they are free, run on the loop's thread, and the answer is submitted without
/// another hop. A short read (one lookup, one encoding) then costs no thread hand-offs at all.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
