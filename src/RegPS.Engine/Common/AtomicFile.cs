namespace RegPS.Engine.Common;

/// <summary>
/// Writes a file so that it either appears complete or not at all: the content goes to a hidden temporary file in the
/// target folder, which is flushed and renamed over the target only when the writer returns. A failure or cancellation
/// deletes the temporary file and leaves any existing target untouched.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, bool overwrite, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"The folder '{dir}' does not exist.");
        if (!overwrite && File.Exists(full)) throw new IOException($"The file '{full}' already exists; pass overwrite (-Force) to replace it.");
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(true);
            }
            File.Move(temp, full, overwrite);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
