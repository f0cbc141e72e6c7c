"""Teams: invitations to join a team by e-mail (/api/v1/teams)."""
