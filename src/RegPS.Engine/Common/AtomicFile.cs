using System.Text.RegularExpressions;

namespace RegPS.Engine.Common;

/// <summary>
/// Writes a file so that it either appears complete or not at all: the content goes to a hidden temporary file in the
/// target folder (".name.guid.tmp"), which is flushed to disk and renamed over the target only when the writer returns.
/// A failure or cancellation deletes the temporary file and leaves any existing target untouched. Every RegPS writer
/// (NIfTI, PNG, transforms) goes through here.
/// <para>
/// A process killed mid-write (kill -9, power loss) cannot delete its temporary file. The writer holds the temporary
/// file open with an exclusive lock (FileShare.None: flock on Unix, a sharing lock on Windows) for as long as it writes,
/// and the operating system drops the lock when the process dies; <see cref="RemoveStaleTemporaries"/> deletes only
/// files with this class's naming that it can lock itself, so a live writer's file is left alone.
/// </para>
/// </summary>
public static partial class AtomicFile
{
    /// <summary>
    /// A temporary file younger than this is never removed: it covers the instants in which a live writer has created
    /// its file but not yet locked it, or closed it but not yet renamed it.
    /// </summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(10);

    public static void Write(string path, bool overwrite, Action<Stream> write, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new IOException($"Cannot write '{full}': it is a directory.");
        if (File.Exists(full) && !overwrite)
            throw new IOException($"The file '{full}' already exists; pass overwrite (-Force) to replace it.");
        string dir = Path.GetDirectoryName(full) ?? throw new IOException($"Cannot write '{full}': it has no parent folder.");
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Cannot write '{full}': the folder '{dir}' does not exist.");

        string temp = TemporaryPathFor(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                try
                {
                    write(stream);
                    stream.Flush(true);
                }
                catch (IOException e) when (IsDiskFull(e))
                {
                    throw new IOException($"Cannot write '{full}': the disk holding '{dir}' is full ({e.Message.TrimEnd('.')}); nothing was written.", e);
                }
            }
            ct.ThrowIfCancellationRequested();
            try
            {
                File.Move(temp, full, overwrite);
            }
            catch (IOException e) when (!overwrite && File.Exists(full))
            {
                throw new IOException($"The file '{full}' already exists; pass overwrite (-Force) to replace it.", e);
            }
        }
        catch
        {
            try { if (File.Exists(temp)) File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>The hidden temporary file a write of <paramref name="full"/> uses: ".name.&lt;32 hex digits&gt;.tmp" beside it.</summary>
    internal static string TemporaryPathFor(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");

    /// <summary>True for a name <see cref="Write"/> gives its temporary files, and nothing else.</summary>
    public static bool IsTemporaryName(string fileName) => TemporaryName().IsMatch(fileName);

    [GeneratedRegex(@"^\..+\.[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex TemporaryName();

    /// <summary>
    /// Deletes the temporary files that interrupted RegPS writes left in <paramref name="directory"/> (and its
    /// subfolders when <paramref name="recursive"/>): only files named as <see cref="Write"/> names them, not links,
    /// last written more than <see cref="StaleAfter"/> ago, and only when no process holds them open for writing
    /// (the file is opened with an exclusive lock and deleted when closed). Returns the files removed. A folder that
    /// cannot be listed, or a file that cannot be locked or deleted, is left alone.
    /// </summary>
    public static IReadOnlyList<string> RemoveStaleTemporaries(string directory, bool recursive = false)
    {
        var removed = new List<string>();
        if (!Directory.Exists(directory)) return removed;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = recursive,
            AttributesToSkip = FileAttributes.ReparsePoint,
            IgnoreInaccessible = true,
            MatchType = MatchType.Simple,
        };
        IEnumerable<string> candidates;
        try { candidates = Directory.EnumerateFiles(directory, ".*.tmp", options).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return removed; }
        DateTime cutoff = DateTime.UtcNow - StaleAfter;
        foreach (var file in candidates)
        {
            if (!IsTemporaryName(Path.GetFileName(file))) continue;
            try
            {
                if (File.GetLastWriteTimeUtc(file) > cutoff) continue;
                using (new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
                if (!File.Exists(file)) removed.Add(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Locked by a live writer, or gone already, or not ours to delete: leave it.
            }
        }
        return removed;
    }

    // ENOSPC (28) and EDQUOT (122 on Linux, 69 on macOS) on Unix; ERROR_DISK_FULL (112) and ERROR_HANDLE_DISK_FULL (39) on Windows.
    private static bool IsDiskFull(IOException e)
    {
        int code = e.HResult & 0xFFFF;
        return OperatingSystem.IsWindows() ? code is 112 or 39 : code is 28 || code == (OperatingSystem.IsLinux() ? 122 : 69);
    }
}
