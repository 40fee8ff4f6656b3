use super::*;

#[test]
fn a_pipe_given_back_is_kept_only_at_full_size() {
    // Each test runs on its own thread: its free list starts empty.
    assert_eq!(kept(), 0);
    // As the kernel makes a pipe past the per-user budget: a pipe of its own size.
    let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).unwrap();
    Pipe {
        read,
        write,
        full_size: false,
    }
    .give();
    assert_eq!(kept(), 0);
    let pipe = Pipe::take().unwrap();
    assert!(pipe.full_size);
    pipe.give();
    assert_eq!(kept(), 1);
}
