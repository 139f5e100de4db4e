//! The scoreboard through two mappings of one segment, as a worker and `zeus status` see it.

use zeus_core::scoreboard::{Describe, Limits, Scoreboard, WorkerState};

#[test]
fn a_second_mapping_sees_the_writers_updates_and_the_segment_goes_on_drop() {
    let path = std::path::PathBuf::from(format!(
        "/dev/shm/zeus.test{}.svc.scoreboard",
        std::process::id()
    ));
    let d = Describe {
        service: "svc".into(),
        mpm: "process".into(),
        discipline: "lru".into(),
        ipc: "mmap".into(),
        limits: Limits {
            start: 1,
            max: 2,
            min_spare: 0,
            max_spare: 1,
            max_tasks: 7,
        },
        manager_pid: 1,
    };
    let writer = Scoreboard::create(&path, 2, &d).unwrap();
    let reader = Scoreboard::open(&path).unwrap();
    let slot = writer.slot(1);
    slot.claim(42);
    slot.set_ids(1234, 1235);
    slot.set_state(WorkerState::Running);
    slot.set_activity("echo 127.0.0.1:5000");
    slot.add_task();
    let snap = reader.snapshot();
    assert_eq!(snap.service, "svc");
    assert_eq!(snap.limits.max_tasks, 7);
    assert_eq!(snap.workers.len(), 1);
    let w = &snap.workers[0];
    assert_eq!(
        (w.id, w.pid, w.tid, w.state, w.tasks),
        (42, 1234, 1235, WorkerState::Running, 1)
    );
    assert_eq!(w.doing, "echo 127.0.0.1:5000");
    writer.retire_tasks(slot.release());
    assert_eq!(reader.snapshot().tasks_done, 1);
    assert!(reader.snapshot().workers.is_empty());
    drop(writer);
    assert!(!path.exists(), "the creator removes the segment");
}

#[test]
fn open_refuses_a_file_that_is_not_a_scoreboard() {
    let path = std::path::PathBuf::from(format!(
        "/dev/shm/zeus.test{}.junk.scoreboard",
        std::process::id()
    ));
    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    let err = Scoreboard::open(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(err.to_string().contains("bad magic"), "{err}");
}
