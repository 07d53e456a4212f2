namespace RegPS.Engine.Common;

/// <summary>
/// Writes a file so that it either appears complete or not at all: the content goes to a hidden temporary file in the
/// target folder (".name.guid.tmp"), which is flushed to disk and renamed over the target only when the writer returns.
/// A failure or cancellation deletes the temporary file and leaves any existing target untouched. Every RegPS writer
/// (NIfTI, PNG, transforms) goes through here.
/// </summary>
public static class AtomicFile
{
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

        string temp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(true);
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
}
