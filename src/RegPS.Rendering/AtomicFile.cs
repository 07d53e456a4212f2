namespace RegPS.Rendering;

/// <summary>Writes a file through a temporary file in the same folder and a rename, so a reader never sees half a file.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Calls <paramref name="write"/> on a new temporary file next to <paramref name="path"/>, then moves it into place.
    /// Refuses to replace an existing file unless <paramref name="overwrite"/>; deletes the temporary file on any failure.
    /// </summary>
    public static void Write(string path, bool overwrite, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new IOException($"Cannot write '{full}': it is a directory.");
        if (File.Exists(full) && !overwrite)
            throw new IOException($"The file '{full}' already exists; pass overwrite: true (-Force) to replace it.");
        string dir = Path.GetDirectoryName(full) ?? throw new IOException($"Cannot write '{full}': it has no parent folder.");
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Cannot write '{full}': the folder '{dir}' does not exist.");

        string temp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(true);
            }
            File.Move(temp, full, overwrite);
        }
        catch
        {
            try { if (File.Exists(temp)) File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
