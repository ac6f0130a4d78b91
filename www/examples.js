// examples.js — a few plots to try, written for this page (not taken from any dataset).

export const EXAMPLES = [
  {
    label: 'Haunted house',
    title: 'The Hollow Room',
    plot: 'A family moves into an old farmhouse where the previous owners vanished. At night the children hear whispers behind the walls, the mother finds bloody handprints in the cellar, and a demonic presence begins to possess the youngest daughter.',
  },
  {
    label: 'Romantic comedy',
    title: 'Second Cup',
    plot: 'A cynical wedding planner keeps bumping into the clumsy baker who ruined her best client\'s cake. Forced to work together on a disastrous celebrity wedding, they bicker, trade insults and slowly fall in love.',
  },
  {
    label: 'Space mission',
    title: 'Far Signal',
    plot: 'When a distress signal arrives from a colony ship lost for a century, a small crew of astronauts travels beyond the solar system and discovers an alien intelligence that has been studying humanity.',
  },
  {
    label: 'Heist',
    title: 'Clean Sweep',
    plot: 'A retired safecracker is blackmailed by a ruthless gangster into robbing the city\'s most secure bank. With a crooked detective on his trail, he assembles a crew of thieves for one last job.',
  },
];
