//! librampart.so — OWNER: helper "interceptor".
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: abort() is always safe to call; it never returns.
    unsafe { libc::abort() }
}
