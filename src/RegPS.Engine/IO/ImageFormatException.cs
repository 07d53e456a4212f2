namespace RegPS.Engine.IO;

/// <summary>A file that cannot be read as an image: corrupt, truncated, unsupported or absurd. Names the file and the problem.</summary>
public sealed class ImageFormatException : IOException
{
    public ImageFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    public string FilePath { get; }
    public string Problem { get; }
}
