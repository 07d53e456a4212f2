using System.Diagnostics;
using RegPS.Engine.Common;
using RegPS.Engine.Tests.TestSupport;

namespace RegPS.Engine.Tests.Common;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("regps-atomic-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly DateTime LongAgo = DateTime.UtcNow.AddHours(-1);

    /// <summary>A file named as a write of <paramref name="target"/> names its temporary, last written an hour ago.</summary>
    private string StaleTemporary(string target, string? folder = null)
    {
        string path = Path.Combine(folder ?? _dir, $".{target}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(path, new byte[100]);
        File.SetLastWriteTimeUtc(path, LongAgo);
        return path;
    }

    [Fact]
    public void TemporaryNamesAreRecognisedExactly()
    {
        string hex = Guid.NewGuid().ToString("N");
        Assert.True(AtomicFile.IsTemporaryName($".sub-01_T1w.nii.gz.{hex}.tmp"));
        Assert.False(AtomicFile.IsTemporaryName($"sub-01_T1w.nii.gz.{hex}.tmp"));   // not hidden
        Assert.False(AtomicFile.IsTemporaryName($".a.nii.{hex[..31]}.tmp"));        // 31 digits
        Assert.False(AtomicFile.IsTemporaryName($".a.nii.{hex.ToUpperInvariant()}x.tmp"));
        Assert.False(AtomicFile.IsTemporaryName($".a.nii.{hex}.tmp.bak"));
        Assert.False(AtomicFile.IsTemporaryName(".a.nii.tmp"));
        Assert.Matches(@"^\.x\.png\.[0-9a-f]{32}\.tmp$", Path.GetFileName(AtomicFile.TemporaryPathFor(Path.Combine(_dir, "x.png"))));
    }

    [Fact]
    public void StaleTemporariesAreRemovedAndEverythingElseIsLeft()
    {
        string stale = StaleTemporary("a.nii.gz");
        string young = Path.Combine(_dir, $".b.nii.gz.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(young, new byte[10]);                           // just created: a writer may not hold it yet
        string live = StaleTemporary("c.nii.gz");
        string user1 = Path.Combine(_dir, "notes.tmp");
        string user2 = Path.Combine(_dir, ".cache.tmp");
        string user3 = Path.Combine(_dir, $"d.nii.{Guid.NewGuid():N}.tmp");
        foreach (var u in new[] { user1, user2, user3 }) { File.WriteAllText(u, "mine"); File.SetLastWriteTimeUtc(u, LongAgo); }
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));
        string nested = StaleTemporary("e.json", Path.Combine(_dir, "sub"));

        IReadOnlyList<string> removed;
        using (new FileStream(live, FileMode.Open, FileAccess.Write, FileShare.None)) // a live writer holds its file
            removed = AtomicFile.RemoveStaleTemporaries(_dir);

        Assert.Equal(new[] { stale }, removed);
        Assert.False(File.Exists(stale));
        foreach (var kept in new[] { young, live, user1, user2, user3, nested })
            Assert.True(File.Exists(kept), $"{kept} should have been left alone");

        // Recursive (as a BIDS run does over its output tree): the nested one and the writer's, now released, go too.
        removed = AtomicFile.RemoveStaleTemporaries(_dir, recursive: true);
        Assert.Equal(new[] { live, nested }.Order(), removed.Order());
        Assert.True(File.Exists(young) && File.Exists(user1) && File.Exists(user2) && File.Exists(user3));
    }

    [Fact]
    public void ALinkWithATemporaryNameIsNotFollowedOrRemoved()
    {
        string target = Path.Combine(_dir, "precious.nii");
        File.WriteAllText(target, "data");
        string link = Path.Combine(_dir, $".x.nii.{Guid.NewGuid():N}.tmp");
        File.CreateSymbolicLink(link, target);
        Assert.Empty(AtomicFile.RemoveStaleTemporaries(_dir));
        Assert.True(File.Exists(link));
        Assert.Equal("data", File.ReadAllText(target));
    }

    /// <summary>
    /// Another process writes (holds a lock on) a temporary file and is then killed with SIGKILL: while it lives the
    /// file stays, once it is dead the next clean-up removes it. util-linux flock(1) takes the same flock(2) lock
    /// that .NET's FileShare.None takes on Linux.
    /// </summary>
    [PackageFileFact("/usr/bin/flock", "util-linux")]
    public void AKilledWritersTemporaryIsRemovedAndALiveOnesIsNot()
    {
        string temp = StaleTemporary("sub-01_T1w.nii.gz");
        string ready = Path.Combine(_dir, "ready");
        var psi = new ProcessStartInfo("/usr/bin/flock") { ArgumentList = { temp, "/bin/sh", "-c", $"touch '{ready}'; exec sleep 60" } };
        using var writer = Process.Start(psi)!;
        try
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(ready) && clock.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(20);
            Assert.True(File.Exists(ready), "the writer process did not start");
            File.SetLastWriteTimeUtc(temp, LongAgo);
            Assert.Empty(AtomicFile.RemoveStaleTemporaries(_dir));
            Assert.True(File.Exists(temp));
        }
        finally
        {
            writer.Kill(entireProcessTree: true); // SIGKILL: the writer gets no chance to clean up
            writer.WaitForExit(30_000);
        }
        // The lock dies with the last process holding the descriptor: flock's child (sleep) holds it too, and the
        // kernel may take a moment to finish it off after flock itself has been reaped, so look again for a while.
        IReadOnlyList<string> removed = Array.Empty<string>();
        var deadline = Stopwatch.StartNew();
        while (removed.Count == 0 && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            removed = AtomicFile.RemoveStaleTemporaries(_dir);
            if (removed.Count == 0) Thread.Sleep(50);
        }
        Assert.Equal(new[] { temp }, removed);
        Assert.False(File.Exists(temp));
    }

    /// <summary>A real ENOSPC (from /dev/full) inside a write is reported naming the target, not the hidden temporary.</summary>
    [PackageFileFact("/dev/full", "the Linux kernel (the device /dev/full)")]
    public void DiskFullNamesTheTargetAndLeavesNothing()
    {
        string target = Path.Combine(_dir, "out.nii.gz");
        var ex = Assert.Throws<IOException>(() => AtomicFile.Write(target, false, _ =>
        {
            using var full = new FileStream("/dev/full", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1);
            full.Write(new byte[4096]);
            full.Flush();
        }));
        Assert.Contains($"'{target}'", ex.Message);
        Assert.Contains("full", ex.Message);
        Assert.DoesNotContain(".tmp", ex.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }
}
